package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine/store/pgstore" // registers postgres:// and postgresql://
)

// newStoreCmd is `protorun store`: what concerns the run store itself.
func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Manage the run store (migrate a PostgreSQL store's schema)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStoreMigrateCmd())
	return cmd
}

func newStoreMigrateCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade a PostgreSQL store's schema (every command also does on first use)",
		Long: `Create or upgrade the schema of the PostgreSQL store --store (or
$PROTORUN_STORE) names, to the version this protorun knows. Safe to run
again, and from two machines at once. A schema written by a newer protorun
is refused (exit 2) and left alone. A file store has no schema: nothing to do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url := c.storeURL
			if url == "" && c.stateDir == "" {
				url = os.Getenv("PROTORUN_STORE")
			}
			if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
				if _, err := c.store(); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "a file store has no schema: nothing to migrate")
				return nil
			}
			applied, version, err := pgstore.MigrateURL(context.Background(), url)
			if err != nil {
				return exitCode(exitUsage, err) // a server down, a newer schema: nothing changed
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "schema version %d: up to date\n", version)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema version %d: applied %s\n", version, joinInts(applied))
			return nil
		},
	}
	c.stateDirFlag(cmd)
	return cmd
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
