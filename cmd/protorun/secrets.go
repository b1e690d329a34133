package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// askSecrets asks, on a terminal and without echo, for the secret vars a
// resumed run needs again and that their environment variables do not
// give: the run keeps only their digests, and the engine refuses a value
// whose digest differs. Without a terminal it asks nothing; the engine
// then names the environment variable to set.
func askSecrets(cmd *cobra.Command, st store.Store, p *protocol.Protocol, id string, interactive bool) (map[string]string, error) {
	out := map[string]string{}
	if !interactive || !isTerminal(os.Stdin) {
		return out, nil
	}
	_, entries, err := st.Load(context.Background(), id)
	if err != nil {
		return nil, exitCode(exitUsage, err)
	}
	c, err := engine.ContextOf(id, entries)
	if err != nil || c == nil {
		return out, nil // the engine refuses it, with the reason
	}
	for _, fv := range c.Vars {
		v := p.Vars[fv.Name]
		if !fv.Secret || fv.Source == "default" || fv.Source == "unset" || v == nil {
			continue
		}
		if v.Env != "" && os.Getenv(v.Env) != "" {
			continue
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "secret var %s (the run keeps only its digest): ", fv.Name)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, exitCode(exitUsage, fmt.Errorf("read secret var %s: %w", fv.Name, err))
		}
		out[fv.Name] = string(b)
	}
	return out, nil
}
