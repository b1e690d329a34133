// Command sandbox runs the local "staging" and "production" environments the
// protorun example protocols deploy to. Each environment is a reverse proxy
// in front of instances of a small example service (child processes), plus
// an admin API for zero-downtime deploys, snapshots, rollbacks and alerts.
//
// Usage:
//
//	sandbox [--config FILE] up [--foreground] [--version ENV=VERSION]...
//	sandbox [--config FILE] down
//	sandbox [--config FILE] status [-o text|json]
//	sandbox instance --version V [--listen 127.0.0.1:0]   (internal)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usageText = `usage: sandbox [--config FILE] <command> [flags]

commands:
  up [--foreground] [--version ENV=VERSION]...
        start the sandbox (in the background unless --foreground) and wait
        until every environment answers
  down  stop the sandbox and every instance it started (idempotent)
  status [-o text|json]
        show every environment: addresses, version, previous version,
        instances, health (exit 1 when not running)
  instance --version V [--listen 127.0.0.1:0]
        internal: run one instance of the example service

The config file is --config FILE, else $SANDBOX_CONFIG, else
examples/sandbox/sandbox.yaml (relative to the current directory).
`

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage error")

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		if err != errUsage { //nolint:errorlint // bare sentinel: flag package already printed the problem
			fmt.Fprintln(os.Stderr, "sandbox:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		os.Exit(2)
	case errors.Is(err, errNotRunning):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usageText) }
	configFlag := global.String("config", "", "config file")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usageText)
		return errUsage
	}
	cmd, cmdArgs := rest[0], rest[1:]
	if cmd == "instance" {
		return runInstance(cmdArgs)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usageText)
		return nil
	}

	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText) }
	fs.StringVar(configFlag, "config", *configFlag, "config file")
	var (
		foreground bool
		versions   stringList
		output     string
	)
	switch cmd {
	case "up":
		fs.BoolVar(&foreground, "foreground", false, "run the supervisor in this process")
		fs.Var(&versions, "version", "initial version override ENV=VERSION (repeatable)")
	case "down":
	case "status":
		fs.StringVar(&output, "o", "text", "output format: text or json")
		fs.StringVar(&output, "output", "text", "output format: text or json")
	default:
		fmt.Fprintf(stderr, "sandbox: unknown command %q\n\n%s", cmd, usageText)
		return errUsage
	}
	if err := fs.Parse(cmdArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected arguments %q", errUsage, cmd, fs.Args())
	}

	cfg, err := loadConfig(resolveConfigPath(*configFlag))
	if err != nil {
		return err
	}
	switch cmd {
	case "up":
		if err := cfg.applyVersionOverrides(versions); err != nil {
			return err
		}
		if foreground {
			return runForeground(cfg)
		}
		return runUpBackground(cfg, versions, stdout)
	case "down":
		return runDown(cfg, stdout)
	default:
		return runStatus(cfg, output, stdout)
	}
}
