package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// runArgs is run's argument check: exactly one protocol file. Without one
// it says what is missing rather than cobra's "accepts 1 arg(s), received 0".
func runArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return exitCode(exitUsage, errors.New("run needs the protocol file: protorun run FILE (e.g. protocols/deployment.yaml)"))
	}
	return cobra.ExactArgs(1)(cmd, args)
}
