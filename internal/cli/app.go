package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// callvaultCommands is the table of callvault's subcommands, in the order
// usage lists them. Adding one is one line here plus a type with
// ParseFlags and Run.
var callvaultCommands = []command{
	{"certgen", "generate an RSA key and a self-signed recording certificate", func(a *App) runner { return &certgenMain{app: a} }},
	{"encrypt", "encrypt a file for recording certificates (CMS EnvelopedData, DER)", func(a *App) runner { return &encryptMain{app: a} }},
	{"decrypt", "decrypt a CMS file with a recording private key", func(a *App) runner { return &decryptMain{app: a} }},
	{"init", "create a data directory, a tenant and its first administrator", func(a *App) runner { return &initMain{app: a} }},
	{"serve", "serve the API and the UI, and run background jobs", func(a *App) runner { return &serveMain{app: a} }},
	{"worker", "run background jobs only (retention, re-wraps), beside serve replicas", func(a *App) runner { return &workerMain{app: a} }},
	{"sweep", "run one retention pass now and print what it deleted and held", func(a *App) runner { return &sweepMain{app: a} }},
	{"audit", "verify the audit trail's hash chain, or export it as JSON lines", func(a *App) runner { return &auditMain{app: a} }},
	{"analyze", "run speech analytics on an audio file and print the topics, silences and cross-talk found", func(a *App) runner { return &analyzeMain{app: a} }},
	{"demo", "set up a demo tenant with sample recordings (first run) and serve it", func(a *App) runner { return &demoMain{serveMain: serveMain{app: a}} }},
}

// opensslStyle names the commands that may also be spelt as a flag, so the
// guide's "openssl cms -decrypt …" runs with "callvault" for "openssl cms".
var opensslStyle = map[string]bool{"encrypt": true, "decrypt": true}

type command struct {
	name    string
	summary string
	new     func(*App) runner
}

// runner is one subcommand: ParseFlags checks the command line and reports
// mistakes as *usageError; Run does the work.
type runner interface {
	ParseFlags(args []string) error
	Run(ctx context.Context) error
}

// App is what a subcommand may use of the outside world, so tests can run
// the CLI in-process with their own streams, clock and environment.
type App struct {
	Name           string    // the program, in messages: callvault, rcbs
	commands       []command // its subcommands
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Now            func() time.Time
	LookupEnv      func(string) (string, bool)
}

// Run runs the callvault command line args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp("callvault", callvaultCommands, stdin, stdout, stderr).Run(ctx, args)
}

func newApp(name string, commands []command, stdin io.Reader, stdout, stderr io.Writer) *App {
	return &App{Name: name, commands: commands, Stdin: stdin, Stdout: stdout, Stderr: stderr, Now: time.Now, LookupEnv: os.LookupEnv}
}

// Run dispatches args to a subcommand, prints a failure as one line on
// stderr and returns the exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.usage(a.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "--h", "-help", "--help":
		if name == "help" && len(args) > 1 {
			// "callvault help encrypt" is "callvault encrypt -h".
			return a.Run(ctx, []string{args[1], "-h"})
		}
		a.usage(a.Stdout)
		return 0
	}
	if bare := strings.TrimLeft(name, "-"); bare != name && opensslStyle[bare] {
		name = bare
	}
	cmd, ok := a.lookup(name)
	if !ok {
		fmt.Fprintf(a.Stderr, "%s: unknown command %q; run \"%s help\" for the list\n", a.Name, args[0], a.Name)
		return 2
	}
	r := cmd.new(a)
	err := r.ParseFlags(args[1:])
	if err == nil {
		err = r.Run(ctx)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(a.Stderr, "%s %s: %s\n", a.Name, cmd.name, oneLine(err.Error()))
	}
	return exitCode(err)
}

// exitCode maps an error to the process exit code; the one place that does.
func exitCode(err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	case errors.Is(err, context.Canceled):
		return 130 // as a shell reports a command stopped by Ctrl-C
	default:
		return 1
	}
}

func (a *App) lookup(name string) (command, bool) {
	for _, c := range a.commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", a.Name)
	for _, c := range a.commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"%s <command> -h\" for the flags of a command. Flags take one or two dashes.\n"+
		"\"%s -decrypt …\" accepts openssl cms command lines.\n", a.Name, a.Name)
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// oneLine keeps a message on the single stderr line the CLI promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// newFlagSet returns a silent flag set: parse errors come back as errors and
// are printed once, as one line, by App.Run.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. Flags and positional arguments may be
// mixed, as openssl allows ("-in f cert.pem -out g"). For -h it prints the
// command's synopsis and flags to stdout and returns flag.ErrHelp.
func (a *App) parseFlags(fs *flag.FlagSet, synopsis string, args []string) (positional []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(a.Stdout, "Usage: %s %s %s\n\nFlags:\n", a.Name, fs.Name(), synopsis)
				fs.SetOutput(a.Stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// noPositional refuses stray arguments. It names their position, not their
// text, because a stray word may be half of a password.
func noPositional(positional []string) error {
	if len(positional) > 0 {
		return usagef("unexpected argument (%d stray word(s) outside the flags)", len(positional))
	}
	return nil
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
