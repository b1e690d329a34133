// Package all links every protorun adapter into a build. A program that wants
// them all imports it for its side effects:
//
//	import _ "github.com/protorun/protorun/adapters/all"
//
// A build that wants fewer imports the adapter packages it wants instead,
// each of which registers itself in its init.
package all

import (
	// The standard adapters; each registers itself under its package name.
	_ "github.com/protorun/protorun/adapters/exec"
	_ "github.com/protorun/protorun/adapters/fake"
	_ "github.com/protorun/protorun/adapters/file"
	_ "github.com/protorun/protorun/adapters/http"
	_ "github.com/protorun/protorun/adapters/notify"
	_ "github.com/protorun/protorun/adapters/prometheus"
	_ "github.com/protorun/protorun/adapters/tcp"
)
