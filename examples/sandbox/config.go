package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	defaultConfigPath    = "examples/sandbox/sandbox.yaml"
	configEnvVar         = "SANDBOX_CONFIG"
	defaultStateDir      = ".sandbox"
	defaultHealthTimeout = 10 * time.Second
	defaultDrainTimeout  = 10 * time.Second
	maxReplicas          = 8
)

var (
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	envNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	lineMsgRe = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// Config is the sandbox configuration file.
type Config struct {
	StateDir      string                `yaml:"state_dir" json:"state_dir"`
	HealthTimeout time.Duration         `yaml:"health_timeout" json:"health_timeout"`
	DrainTimeout  time.Duration         `yaml:"drain_timeout" json:"drain_timeout"`
	Environments  map[string]*EnvConfig `yaml:"environments" json:"environments"`

	// Path is the file the configuration was read from (absolute).
	Path string `yaml:"-" json:"-"`
	// lines maps environment names to the line of their key (for messages).
	lines map[string]int
}

// EnvConfig configures one environment.
type EnvConfig struct {
	Proxy    string `yaml:"proxy" json:"proxy"`
	Admin    string `yaml:"admin" json:"admin"`
	Version  string `yaml:"version" json:"version"`
	Replicas int    `yaml:"replicas,omitempty" json:"replicas"`
}

// EnvNames returns the environment names in sorted order.
func (c *Config) EnvNames() []string {
	names := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolveConfigPath applies the precedence flag > $SANDBOX_CONFIG > default.
func resolveConfigPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(configEnvVar); v != "" {
		return v
	}
	return defaultConfigPath
}

// loadConfig reads, decodes and validates the configuration file. The state
// directory is made absolute relative to the current working directory.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s: file not found (use --config FILE or $%s)", path, configEnvVar)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		cfg.Path = abs
	}
	if !filepath.IsAbs(cfg.StateDir) {
		abs, err := filepath.Abs(cfg.StateDir)
		if err != nil {
			return nil, fmt.Errorf("config %s: state_dir: %w", path, err)
		}
		cfg.StateDir = abs
	}
	return cfg, nil
}

// parseConfig decodes and validates configuration bytes; name is used in
// error messages ("name:line: message").
func parseConfig(name string, data []byte) (*Config, error) {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: file is empty", name)
		}
		return nil, yamlError(name, err)
	}
	// Second pass to learn the line of every environment key.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		cfg.lines = envLines(&root)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = defaultStateDir
	}
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = defaultHealthTimeout
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = defaultDrainTimeout
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return cfg, nil
}

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		parts := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := lineMsgRe.FindStringSubmatch(e); m != nil {
				parts = append(parts, fmt.Sprintf("%s:%s: %s", name, m[1], m[2]))
			} else {
				parts = append(parts, name+": "+e)
			}
		}
		return fmt.Errorf("config %s", strings.Join(parts, "; "))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineMsgRe.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("config %s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("config %s: %s", name, msg)
}

func envLines(root *yaml.Node) map[string]int {
	lines := map[string]int{}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return lines
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return lines
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "environments" || top.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		envs := top.Content[i+1]
		for j := 0; j+1 < len(envs.Content); j += 2 {
			lines[envs.Content[j].Value] = envs.Content[j].Line
		}
	}
	return lines
}

func (c *Config) where(name, env string) string {
	if l, ok := c.lines[env]; ok {
		return fmt.Sprintf("%s:%d", name, l)
	}
	return name
}

func (c *Config) validate(name string) error {
	if c.HealthTimeout < 100*time.Millisecond || c.HealthTimeout > 5*time.Minute {
		return fmt.Errorf("config %s: health_timeout %s out of range (100ms..5m)", name, c.HealthTimeout)
	}
	if c.DrainTimeout < 100*time.Millisecond || c.DrainTimeout > 5*time.Minute {
		return fmt.Errorf("config %s: drain_timeout %s out of range (100ms..5m)", name, c.DrainTimeout)
	}
	if len(c.Environments) == 0 {
		return fmt.Errorf("config %s: no environments defined", name)
	}
	seen := map[string]string{}
	for _, env := range c.EnvNames() {
		ec := c.Environments[env]
		at := c.where(name, env)
		if !envNameRe.MatchString(env) {
			return fmt.Errorf("config %s: environment name %q invalid (want %s)", at, env, envNameRe)
		}
		if ec == nil {
			return fmt.Errorf("config %s: environment %s: missing proxy, admin and version", at, env)
		}
		for _, a := range []struct{ field, addr string }{{"proxy", ec.Proxy}, {"admin", ec.Admin}} {
			if err := checkLoopbackAddr(a.addr, false); err != nil {
				return fmt.Errorf("config %s: environment %s: %s: %w", at, env, a.field, err)
			}
			if other, dup := seen[a.addr]; dup {
				return fmt.Errorf("config %s: environment %s: %s address %s already used by %s", at, env, a.field, a.addr, other)
			}
			seen[a.addr] = env + "." + a.field
		}
		if err := checkVersion(ec.Version); err != nil {
			return fmt.Errorf("config %s: environment %s: %w", at, env, err)
		}
		if ec.Replicas == 0 {
			ec.Replicas = 1
		}
		if ec.Replicas < 1 || ec.Replicas > maxReplicas {
			return fmt.Errorf("config %s: environment %s: replicas %d out of range (1..%d)", at, env, ec.Replicas, maxReplicas)
		}
	}
	return nil
}

// applyVersionOverrides applies "env=version" overrides from the command line.
func (c *Config) applyVersionOverrides(overrides []string) error {
	for _, o := range overrides {
		env, v, ok := strings.Cut(o, "=")
		if !ok || env == "" {
			return fmt.Errorf("--version %q: want ENV=VERSION", o)
		}
		ec, found := c.Environments[env]
		if !found {
			return fmt.Errorf("--version %q: unknown environment %q (have %s)", o, env, strings.Join(c.EnvNames(), ", "))
		}
		if err := checkVersion(v); err != nil {
			return fmt.Errorf("--version %q: %w", o, err)
		}
		ec.Version = v
	}
	return nil
}

func checkVersion(v string) error {
	if v == "" {
		return errors.New("version is empty")
	}
	if !versionRe.MatchString(v) {
		return fmt.Errorf("invalid version %q (must match %s)", v, versionRe)
	}
	return nil
}

// checkLoopbackAddr accepts only 127.0.0.1:PORT. Port 0 is allowed only when
// allowZero is set (instances bind ephemeral ports).
func checkLoopbackAddr(addr string, allowZero bool) error {
	if addr == "" {
		return errors.New("address is empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %v", addr, err)
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("address %q refused: only 127.0.0.1 addresses are allowed", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !allowZero) {
		return fmt.Errorf("address %q: invalid port %q", addr, port)
	}
	return nil
}
