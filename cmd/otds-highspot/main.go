// Command otds-highspot keeps Highspot in step with OpenText Directory
// Services: extract → transform → pull → plan → apply, one run id at a time.
// See README.md and docs/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A closed stdout or stderr (apply --dry-run | head) must not kill the
	// process with its locks held: with SIGPIPE caught, writes fail with
	// EPIPE and the command ends through its normal path, releasing them.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
