package checks

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func mustMySQL(t *testing.T, cfg MySQLConfig) Checker {
	t.Helper()
	c, err := New("mysql", db.Addr(), cfg)
	if err != nil {
		if strings.Contains(err.Error(), testDBPassword) {
			t.Fatalf("the password leaked into an error")
		}
		t.Fatal(err)
	}
	return c
}

func TestMySQLCheck(t *testing.T) {
	m := needMariaDB(t)
	ok := MySQLConfig{User: testDBUser, Password: testDBPassword, Database: testDBName}
	with := func(f func(*MySQLConfig)) MySQLConfig { c := ok; f(&c); return c }
	for _, tc := range []struct {
		name       string
		cfg        MySQLConfig
		wantOK     bool
		wantReason string
	}{
		{"pass", ok, true, `logged in as "monitor" and pinged`},
		{"no database", with(func(c *MySQLConfig) { c.Database = "" }), true, "pinged"},
		{"wrong password is an auth failure", with(func(c *MySQLConfig) { c.Password = testDBPassword + "x" }), false,
			`mysql auth failed at ` + m.Addr().String() + ` for user "monitor": Access denied for user 'monitor'@'127.0.0.1' (using password: YES) (error 1045)`},
		{"unknown user is an auth failure", with(func(c *MySQLConfig) { c.User = "nobody" }), false, "mysql auth failed"},
		{"unknown database", with(func(c *MySQLConfig) { c.Database = "nodb" }), false, `unknown database "nodb" (error 1049)`},
		{"database not granted", with(func(c *MySQLConfig) { c.User = "narrow" }), false, `user "narrow" may not use database "vigil" (error 1044)`},
		{"query matches", with(func(c *MySQLConfig) { c.Query, c.Expect = "SELECT lag FROM replica", "0" }), true, `returned "0"`},
		{"query mismatch", with(func(c *MySQLConfig) { c.Query, c.Expect = "SELECT lag + 300 FROM replica", "0" }), false, `query "SELECT lag + 300 FROM replica" returned "300", want "0"`},
		{"query no rows", with(func(c *MySQLConfig) { c.Query, c.Expect = "SELECT lag FROM replica WHERE lag > 1", "0" }), false, "returned no rows"},
		{"query error", with(func(c *MySQLConfig) { c.Query, c.Expect = "SELECT nope FROM replica", "0" }), false, "server error 1054"},
		{"query NULL", with(func(c *MySQLConfig) { c.Query, c.Expect = "SELECT NULL", "NULL" }), true, `returned "NULL"`},
		// Without expect any successful query passes (README, check "mysql"), whatever it
		// returns: the default SELECT 1 returns "1", which is not "".
		{"default query without expect", with(func(c *MySQLConfig) { c.Query = "SELECT 1" }), true, `query "SELECT 1" returned "1"`},
		{"query returning 0 without expect", with(func(c *MySQLConfig) { c.Query = "SELECT lag FROM replica" }), true, `returned "0"`},
		{"query without rows and without expect", with(func(c *MySQLConfig) { c.Query = "SELECT lag FROM replica WHERE lag > 1" }), true, "succeeded (no rows)"},
		{"statement without a result set and without expect", with(func(c *MySQLConfig) { c.Query = "DO 1" }), true, "succeeded (no rows)"},
		{"failing query without expect", with(func(c *MySQLConfig) { c.Query = "SELECT nope FROM replica" }), false, "server error 1054"},
		{"statement without a result set, with expect", with(func(c *MySQLConfig) { c.Query, c.Expect = "DO 1", "1" }), false, `returned no columns, want "1"`},
		{"TLS refused by a server without TLS", with(func(c *MySQLConfig) { c.TLS = true }), false, "mysql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, mustMySQL(t, tc.cfg), 10*time.Second)
			if res.OK != tc.wantOK || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got OK=%v %q, want OK=%v containing %q", res.OK, res.Reason, tc.wantOK, tc.wantReason)
			}
			if strings.Contains(res.Reason, testDBPassword) {
				t.Errorf("the password is in the reason %q", res.Reason)
			}
		})
	}
}

func TestMySQLCheckConnectionFailureIsDistinct(t *testing.T) {
	needMariaDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := addrOf(t, ln.Addr())
	ln.Close()
	c, err := NewMySQL(target, MySQLConfig{User: testDBUser, Password: testDBPassword})
	if err != nil {
		t.Fatal(err)
	}
	res := check(t, c, 5*time.Second)
	if res.OK || !strings.Contains(res.Reason, "connection failed") || !strings.Contains(res.Reason, "connection refused") || strings.Contains(res.Reason, "auth") {
		t.Errorf("got OK=%v %q, want a connection failure", res.OK, res.Reason)
	}
}

// TestMySQLCheckHungServerTimesOut freezes mariadbd (SIGSTOP): the kernel still completes
// handshakes into its backlog, so only the timeout can fail the check.
func TestMySQLCheckHungServerTimesOut(t *testing.T) {
	m := needMariaDB(t)
	m.Signal(syscall.SIGSTOP)
	defer m.Signal(syscall.SIGCONT)
	c := mustMySQL(t, MySQLConfig{User: testDBUser, Password: testDBPassword})
	start := time.Now()
	res := check(t, c, 500*time.Millisecond)
	if res.OK || !strings.Contains(res.Reason, "timeout after 500ms") {
		t.Errorf("got OK=%v %q, want a 500ms timeout", res.OK, res.Reason)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("check returned after %v, want about 500ms", took)
	}
}

// TestMySQLCheckServerKilledAndRestarted runs the scheduler on the real clock: mariadbd is
// killed mid-run, the server goes down after fall failures, and comes back once rise
// passes after a restart. The password must appear in no log line or reason on the way.
func TestMySQLCheckServerKilledAndRestarted(t *testing.T) {
	m := needMariaDB(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	var mu sync.Mutex
	var reasons []string
	states := make(chan State, 16)
	s := NewScheduler(Options{
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnCheck: func(ev CheckEvent) {
			mu.Lock()
			reasons = append(reasons, ev.Result.Reason)
			mu.Unlock()
		},
		OnServer: func(ev ServerEvent) {
			if ev.Old != ev.New {
				states <- ev.New
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	good := mustMySQL(t, MySQLConfig{User: testDBUser, Password: testDBPassword, Database: testDBName, Query: "SELECT 1", Expect: "1"})
	bad := mustMySQL(t, MySQLConfig{User: testDBUser, Password: testDBPassword + "-wrong"})
	const interval, timeout = 200 * time.Millisecond, time.Second
	if err := s.Set([]Spec{
		{ID: "db1/mysql", Server: "db1", VirtualServer: "mysql", RealServer: "db1", Kind: "mysql", Checker: good, Interval: interval, Timeout: timeout, Rise: 2, Fall: 2},
		{ID: "db2/mysql", Server: "db2", VirtualServer: "mysql", RealServer: "db2", Kind: "mysql", Checker: bad, Interval: interval, Timeout: timeout, Rise: 2, Fall: 2},
	}); err != nil {
		t.Fatal(err)
	}
	expect := func(want State, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		select {
		case got := <-states:
			if got != want {
				t.Fatalf("server went %v, want %v", got, want)
			}
		case <-time.After(within):
			t.Fatalf("server did not go %v within %v", want, within)
		}
		return time.Since(start)
	}
	// db1 comes up and db2 goes down on their first results; order them out.
	var seen []State
	for range 2 {
		select {
		case st := <-states:
			seen = append(seen, st)
		case <-time.After(20 * time.Second):
			t.Fatalf("first results did not arrive: %v", seen)
		}
	}
	if !(seen[0] == Up && seen[1] == Down || seen[0] == Down && seen[1] == Up) {
		t.Fatalf("first transitions %v, want one up (db1) and one down (db2)", seen)
	}
	// Stop reporting db2: it stays down and is noise from here on.
	if err := s.Set([]Spec{s.specFor(t, "db1/mysql")}); err != nil {
		t.Fatal(err)
	}

	m.Kill()
	took := expect(Down, 20*time.Second)
	t.Logf("down %v after the kill (bound fall x interval + timeout = %v)", took, 2*interval+timeout)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	took = expect(Up, 30*time.Second)
	t.Logf("up %v after the restart", took)

	cancel()
	s.Stop()
	logMu.Lock()
	defer logMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	all := logs.String() + strings.Join(reasons, "\n")
	if strings.Contains(all, testDBPassword) {
		t.Errorf("the password appears in the logs or reasons:\n%s", all)
	}
	if !strings.Contains(logs.String(), "mysql auth failed") || !strings.Contains(logs.String(), "connection failed") {
		t.Errorf("logs lack the auth and connection failures:\n%s", logs.String())
	}
}

// specFor returns the running spec of check id (test helper).
func (s *Scheduler) specFor(t *testing.T, id string) Spec {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.checks[id]
	if e == nil {
		t.Fatalf("no check %s", id)
	}
	return e.spec
}
