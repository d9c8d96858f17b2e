package vrrp

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/proc"
)

// CommandRunner runs one notify command; tests inject a recorder.
type CommandRunner func(ctx context.Context, argv, env []string) error

// ExecCommand runs argv through internal/proc with a clean environment: PATH (proc.Path)
// and env (VRRP_INSTANCE, VRRP_STATE, VRRP_PRIORITY), never vigil's own environment,
// which may hold the secrets a configuration reads with env() (a VRRP password, a MySQL
// check's password). At ctx's end the command's whole process group is killed; what it
// started in the background and left running when it exited stays (a notify command may
// start a service).
func ExecCommand(ctx context.Context, argv, env []string) error {
	r := proc.Run(ctx, proc.Command{Argv: argv, Env: cleanEnv(env), KeepLeftovers: true})
	if !r.OK() {
		return fmt.Errorf("run notify command %q: %s", argv[0], r.Summary())
	}
	return nil
}

// cleanEnv is a notify command's whole environment: proc.Path, then env.
func cleanEnv(env []string) []string {
	return append([]string{proc.Path}, env...)
}

// notifier runs an instance's notify commands one at a time, in the order of the
// transitions: keepalived runs its scripts unordered and concurrently (issue #996), so a
// quick MASTER->BACKUP can finish its scripts in the wrong order; here they cannot.
type notifier struct {
	name    string
	cfg     Notify
	run     CommandRunner
	log     *slog.Logger
	mu      sync.Mutex
	queue   [][2][]string // argv, env
	wake    chan struct{}
	done    chan struct{}
	stopped bool
}

func newNotifier(name string, cfg Notify, run CommandRunner, log *slog.Logger) *notifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if run == nil {
		run = ExecCommand
	}
	n := &notifier{name: name, cfg: cfg, run: run, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.loop()
	return n
}

// transition queues the commands for entering state with priority prio.
func (n *notifier) transition(state string, prio uint8) {
	var cmds [][]string
	switch state {
	case "MASTER":
		cmds = append(cmds, n.cfg.Master)
	case "BACKUP":
		cmds = append(cmds, n.cfg.Backup)
	case "FAULT":
		cmds = append(cmds, n.cfg.Fault)
	}
	cmds = append(cmds, n.cfg.Any)
	p := strconv.Itoa(int(prio))
	env := []string{"VRRP_INSTANCE=" + n.name, "VRRP_STATE=" + state, "VRRP_PRIORITY=" + p}
	n.mu.Lock()
	for _, c := range cmds {
		if len(c) == 0 {
			continue
		}
		argv := append(append([]string(nil), c...), "INSTANCE", n.name, state, p)
		n.queue = append(n.queue, [2][]string{argv, env})
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	defer close(n.done)
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			stopped := n.stopped
			n.mu.Unlock()
			if stopped {
				return
			}
			<-n.wake
			continue
		}
		job := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		if err := n.run(ctx, job[0], job[1]); err != nil {
			n.log.Warn("notify command failed", "instance", n.name, "err", err)
		}
		cancel()
	}
}

// close runs what is queued (each command still bounded by its timeout) and stops.
func (n *notifier) close() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	<-n.done
}
