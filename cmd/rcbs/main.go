// Command rcbs is the Recording Cloud Backup Service client: it copies
// every recording of a period, encrypted as stored, with its metadata, to
// the customer's own disk (rcbs -config config.properties), and decrypts,
// checks and sizes what it copied.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"callvault/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.RunRCBS(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
