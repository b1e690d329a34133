package main

import (
	"errors"

	"github.com/protorun/protorun/engine/protocol"
)

// loadProtocol loads a protocol file as protocol.Load does, and adds to
// its errors the hints that name this command's flags.
func loadProtocol(path string) (*protocol.Protocol, error) {
	p, err := protocol.Load(path, nil)
	return p, withFlagHints(err)
}

// withFlagHints completes, in place, the errors of a protocol file that
// the command line can remedy: a secret var's default written in the file
// can be given with --var instead.
func withFlagHints(err error) error {
	var list protocol.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	for _, e := range list {
		if errors.Is(e, protocol.ErrSecretDefault) {
			e.Msg += " or --var"
		}
	}
	return err
}
