// Command escalationd runs a support team's escalation mailbox: it reads the
// mailbox over IMAP, opens or threads escalations, acknowledges them over
// SMTP and keeps a markdown tracking file per escalation.
//
//	escalationd run --config FILE           the daemon, until SIGINT/SIGTERM
//	escalationd once --config FILE          one full cycle, then exit (0 done, 1 work left, 2 config)
//	escalationd demo                        everything on in-process servers in ./demo
//	escalationd check-config --config FILE  validate config and templates
//	escalationd list --config FILE          what is open, at which level, what is due
//	escalationd show --config FILE ESC-00042
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
	_ "time/tzdata" // escalation.timezone works on machines without a zone database

	"github.com/escalationd/escalationd/internal/config"
)

// Exit codes (§2).
const (
	exitOK     = 0
	exitWork   = 1 // something is left to do (a message failed, mail stays queued)
	exitConfig = 2 // the configuration or templates are wrong
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: escalationd <command> [--config FILE]

commands:
  run           watch the mailbox until SIGINT/SIGTERM
  once          handle everything pending, flush the outbox, exit (0 done, 1 work left)
  demo          run the whole loop on in-process servers in ./demo (no config needed)
  check-config  validate the configuration and templates
  list          what is open, at which level, what is due
  show ID       one escalation's tracking file and mail, from the store
`

// cli runs one command and returns the process exit code.
func cli(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	verbose := fs.Bool("v", false, "log debug detail")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of run or once to this file (go tool pprof)")
	demoDir := "demo"
	if cmd == "demo" {
		fs.StringVar(&demoDir, "dir", demoDir, "folder the demo works in (replaced on each run)")
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "demo":
		if err := demo(ctx, demoDir, stdout, log); err != nil {
			log.Error("demo failed", "err", err)
			return exitWork
		}
		return exitOK
	case "run", "once", "check-config", "list", "show":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "escalationd: unknown command %q\n\n%s", cmd, usage)
		return exitConfig
	}

	if *cfgPath == "" {
		fmt.Fprintf(stderr, "escalationd %s: --config FILE is required\n", cmd)
		return exitConfig
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "escalationd: config %s: %v\n", *cfgPath, err)
		return exitConfig
	}
	if *cpuProfile != "" && (cmd == "run" || cmd == "once") {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "escalationd: %v\n", err)
			return exitConfig
		}
		defer stopProfile()
	}
	switch cmd {
	case "check-config":
		return checkConfig(cfg, *cfgPath, stdout, stderr)
	case "list", "show":
		var err error
		if cmd == "list" {
			err = list(ctx, cfg, time.Now, stdout)
		} else if fs.NArg() != 1 {
			err = fmt.Errorf("usage: escalationd show --config FILE ESC-00042")
		} else {
			err = show(ctx, cfg, fs.Arg(0), time.Now, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "escalationd %s: %v\n", cmd, err)
			return exitWork
		}
		return exitOK
	case "once":
		return once(ctx, cfg, time.Now, log)
	default: // run
		if err := run(ctx, cfg, time.Now, log); err != nil {
			var ce configError
			if errors.As(err, &ce) {
				fmt.Fprintf(stderr, "escalationd: %v\n", err)
				return exitConfig
			}
			log.Error("escalationd stopped", "err", err)
			return exitWork
		}
		return exitOK
	}
}

// startCPUProfile writes a CPU profile to path until the returned func runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
