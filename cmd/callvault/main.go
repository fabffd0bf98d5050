// Command callvault is the recording vault: certificate generation, CMS
// encryption and decryption of recording files, and (later) the server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Catching the signals lets a running command remove its temporary file
	// instead of leaving a partial one behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
