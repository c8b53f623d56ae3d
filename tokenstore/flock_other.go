//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tokenstore

import "os"

// flock does nothing where flock(2) is missing: a [File] then
// coordinates the goroutines of one process only.
func flock(*os.File) error { return nil }
