package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/control"
	"github.com/vigil-lb/vigil/internal/director"
)

// The operator's commands of the control socket: vigil drain, maint, ready and plan.

// drainPoll is how often drain --wait reads the connections: the bound is 100 ms
// from the last connection closing to the return.
const drainPoll = 50 * time.Millisecond

// socketFlags are the flags that find the control socket.
type socketFlags struct{ file, socket *string }

func addSocketFlags(fs *flag.FlagSet) socketFlags {
	return socketFlags{
		file:   fs.String("f", "", "find the control socket in this configuration `file` (its global.control_socket); default "+defaultConfigPath+" when it exists"),
		socket: fs.String("socket", "", "`path` of the running vigil's control socket (default "+conf.DefaultControlSocket+")"),
	}
}

// path is -socket, else the global.control_socket of -f FILE (or of the default
// configuration file when there is one), else the documented default.
func (f socketFlags) path() (string, error) {
	if *f.socket != "" {
		return *f.socket, nil
	}
	file := *f.file
	if file == "" {
		if _, err := os.Stat(defaultConfigPath); err != nil {
			return conf.DefaultControlSocket, nil
		}
		file = defaultConfigPath
	}
	g, diags := conf.LoadGlobal(file, conf.Limits{})
	if diags.HasErrors() {
		return "", fmt.Errorf("read global.control_socket from %s: %s", file, conf.DiagnosticLines(diags, 1)[0])
	}
	if g.ControlSocket == "" {
		return "", fmt.Errorf("%s sets control_socket = \"\": the running vigil takes no runtime commands (edit the file and reload instead)", file)
	}
	return g.ControlSocket, nil
}

// parseInterleaved parses flags and positional arguments in any order (vigil drain
// web/rs1 --wait, vigil drain --wait web/rs1), returning the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		rest := args
		fs.SetOutput(io.Discard)
		err := fs.Parse(rest)
		if err != nil {
			// Let parseFlags report it (and the usage) as every command does.
			code, ok = parseFlags(fs, args, stdout, stderr)
			return nil, code, ok
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// adminCommand is one of vigil drain, maint and ready: its flags (besides the socket's)
// and usage, then the request for the state and, for drain --wait, the wait.
type adminCommand struct {
	state string
	usage string
	flags func(fs *flag.FlagSet) (remove func() bool, after func(c *control.Client, sel string, stdout, stderr io.Writer) int)
}

func (a adminCommand) run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil "+a.state, flag.ContinueOnError)
	sf := addSocketFlags(fs)
	remove, after := a.flags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), a.usage+"\n\nFlags:\n")
		fs.PrintDefaults()
	}
	sel, code, ok := oneSelector(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	c, code, ok := dialControl(sf, fs.Name(), stderr)
	if !ok {
		return code
	}
	defer c.Close()
	if !setAdmin(c, sel, a.state, remove(), stdout, stderr) {
		return 1
	}
	return after(c, sel, stdout, stderr)
}

func no() bool { return false }

func done(*control.Client, string, io.Writer, io.Writer) int { return 0 }

func cmdDrain(args []string, stdout, stderr io.Writer) int {
	return adminCommand{state: "drain",
		usage: "Usage: vigil drain VS/RS [--wait [--timeout D]] [-f FILE | --socket PATH]\n\n" +
			"Take real servers out of rotation at run time: weight 0, established connections\n" +
			"finish, checks keep running. The state outlives reloads and restarts; vigil ready\n" +
			"undoes it. VS/RS names a virtual server and a real server (its name, ip:port or ip);\n" +
			"VS/* selects every real server of VS, */RS a real server in every virtual server.\n" +
			"Exit status: 0 done (with --wait: drained), 1 failure or --timeout, 2 usage error.",
		flags: func(fs *flag.FlagSet) (func() bool, func(*control.Client, string, io.Writer, io.Writer) int) {
			wait := fs.Bool("wait", false, "wait until the real servers hold no connection and no persistence template, showing the count as it falls")
			timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (exit 1; the real servers stay drained); 0 waits as long as it takes")
			return no, func(c *control.Client, sel string, stdout, stderr io.Writer) int {
				if !*wait {
					return 0
				}
				return waitDrained(c, sel, *timeout, stdout, stderr)
			}
		},
	}.run(args, stdout, stderr)
}

func cmdMaint(args []string, stdout, stderr io.Writer) int {
	return adminCommand{state: "maint",
		usage: "Usage: vigil maint VS/RS [--remove] [-f FILE | --socket PATH]\n\n" +
			"Put real servers in maintenance: out of service (weight 0, or out of the table with\n" +
			"--remove) and their checks paused. vigil ready puts them back once their checks pass.\n" +
			"Selectors as for vigil drain.\nExit status: 0 done, 1 failure, 2 usage error.",
		flags: func(fs *flag.FlagSet) (func() bool, func(*control.Client, string, io.Writer, io.Writer) int) {
			remove := fs.Bool("remove", false, "delete the destinations from the IPVS table rather than set their weight to 0 (their connections break)")
			return func() bool { return *remove }, done
		},
	}.run(args, stdout, stderr)
}

func cmdReady(args []string, stdout, stderr io.Writer) int {
	return adminCommand{state: "ready",
		usage: "Usage: vigil ready VS/RS [-f FILE | --socket PATH]\n\n" +
			"Give real servers back to their health checks after vigil drain or maint: the weight\n" +
			"follows health again (after maint, once the checks pass). Selectors as for vigil drain.\n" +
			"Exit status: 0 done, 1 failure, 2 usage error.",
		flags: func(*flag.FlagSet) (func() bool, func(*control.Client, string, io.Writer, io.Writer) int) {
			return no, done
		},
	}.run(args, stdout, stderr)
}

// cmdPlan asks the running vigil what a reload of FILE would change: 0 nothing, 2
// changes, 1 invalid file or failure.
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil plan", flag.ContinueOnError)
	file := fs.String("f", defaultConfigPath, "the configuration `file` (or conf.d directory) to plan")
	socket := fs.String("socket", "", "`path` of the running vigil's control socket (default: the global.control_socket of -f FILE)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil plan [-f FILE] [--socket PATH]\n\n"+
			"Show what reloading FILE would change in the running vigil, without changing anything:\n"+
			"the diff a reload would print, then its impact (real servers that would stop taking\n"+
			"connections with the connections they hold, VRRP instances that would restart).\n"+
			"Exit status: 0 no changes, 2 changes, 1 invalid file or failure.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	path, err := filepath.Abs(*file)
	if err != nil {
		fmt.Fprintf(stderr, "vigil plan: %v\n", err)
		return 1
	}
	c, code, ok := dialControl(socketFlags{file: &path, socket: socket}, fs.Name(), stderr)
	if !ok {
		return code
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var res planResult
	if err := c.Do(ctx, control.Request{Op: "plan", Path: path}, &res); err != nil {
		fmt.Fprintf(stderr, "vigil plan: %v\n", err)
		return 1
	}
	if res.Invalid {
		io.WriteString(stderr, res.Diagnostics)
		fmt.Fprintf(stderr, "vigil plan: %s would be rejected; nothing would change\n", path)
		return 1
	}
	if !res.Plan.Changes() {
		fmt.Fprintf(stdout, "no changes: reloading %s would leave everything as it runs\n", path)
		return 0
	}
	fmt.Fprintf(stdout, "reloading %s would change:\n", path)
	for _, l := range res.Plan.Diff {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	if len(res.Plan.Impact) > 0 {
		fmt.Fprintln(stdout, "impact:")
		for _, l := range res.Plan.Impact {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
	}
	return 2
}

// oneSelector parses a command's flags around exactly one VS/RS argument.
func oneSelector(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (string, int, bool) {
	pos, code, ok := parseInterleaved(fs, args, stdout, stderr)
	if !ok {
		return "", code, false
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "%s: want one VS/RS argument, have %d\n", fs.Name(), len(pos))
		fs.SetOutput(stderr)
		fs.Usage()
		return "", 2, false
	}
	return pos[0], 0, true
}

func dialControl(sf socketFlags, name string, stderr io.Writer) (*control.Client, int, bool) {
	path, err := sf.path()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 1, false
	}
	c, err := control.Dial(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 1, false
	}
	return c, 0, true
}

// setAdmin asks for the state and prints what changed, one real server a line.
func setAdmin(c *control.Client, sel, state string, remove bool, stdout, stderr io.Writer) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res adminResult
	if err := c.Do(ctx, control.Request{Op: "admin", Selector: sel, State: state, Remove: remove}, &res); err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", state, err)
		return false
	}
	for _, ch := range res.Changes {
		what := ch.From + " -> " + ch.To
		if !ch.Changed {
			what = "already " + ch.To
		}
		fmt.Fprintf(stdout, "%s/%s (%s): %s\n", ch.VirtualServer, ch.RealServer, ch.Address, what)
	}
	if res.Warning != "" {
		fmt.Fprintf(stderr, "vigil %s: warning: %s\n", state, res.Warning)
	}
	return true
}

// waitDrained polls the connections of sel until none is left, printing the count each
// time it changes; exit 1 at the timeout or on Ctrl-C (the real servers stay drained).
func waitDrained(c *control.Client, sel string, timeout time.Duration, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	began := time.Now()
	last := map[string]string{}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		var conns []director.RealServerConns
		err := c.Do(ctx, control.Request{Op: "conns", Selector: sel}, &conns)
		if err != nil {
			// The connection's deadline is the context's and may fire first.
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			fmt.Fprintf(stderr, "vigil drain: %v\n", err)
			return 1
		}
		left := uint32(0)
		for _, rc := range conns {
			left += rc.Left()
			line := fmt.Sprintf("%d left (%d active, %d inactive, %d persistence templates)", rc.Left(), rc.Active, rc.Inactive, rc.Templates)
			if rc.Closing > 0 {
				line += fmt.Sprintf("; %d closing, not waited for", rc.Closing)
			}
			key := rc.VirtualServer + "/" + rc.RealServer
			if last[key] != line {
				last[key] = line
				fmt.Fprintf(stdout, "%s (%s): %s\n", key, rc.Address, line)
			}
		}
		if left == 0 {
			fmt.Fprintf(stdout, "drained: no connection left after %s\n", time.Since(began).Round(time.Millisecond))
			return 0
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	why := "interrupted"
	if timeout > 0 && time.Since(began) >= timeout {
		why = "timed out after " + timeout.String()
	}
	fmt.Fprintf(stderr, "vigil drain: %s with connections left; %s stays drained (vigil ready %s undoes it)\n", why, sel, sel)
	return 1
}
