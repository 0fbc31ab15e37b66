package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "webhookd:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a subcommand; a bare `webhookd` or one starting with a
// flag means serve.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr)
	case "token":
		return token(args, stdout, stderr)
	case "publish":
		return publish(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "webhookd", version)
		return nil
	case "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage: webhookd [serve] [flags]     run the service (default)
       webhookd token --role R ...    print a signed admin token for the local HS256 key
       webhookd publish --type T ...  publish one event envelope
       webhookd version               print the version
Every flag also reads WEBHOOKD_<FLAG>; "webhookd <command> -h" lists a command's flags.`
