package checks

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// The MySQL checker is proven against a real MariaDB (docs/reference.md, a throw-away MariaDB), started once per
// package test run by the first test that needs it and killed by TestMain.

const (
	testDBUser     = "monitor"
	testDBPassword = "Zq8-unguessable-S3cret" // must never leave the checker
	testDBName     = "vigil"
)

type mariadb struct {
	dir  string
	port uint16
	mu   sync.Mutex
	cmd  *exec.Cmd
}

var (
	dbOnce sync.Once
	db     *mariadb
	dbErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if db != nil {
		db.kill()
		os.RemoveAll(db.dir)
	}
	os.Exit(code)
}

// needMariaDB returns the shared server, starting it on first use.
func needMariaDB(t *testing.T) *mariadb {
	t.Helper()
	testenv.RequireBinary(t, "mariadbd")
	testenv.RequireBinary(t, "mariadb-install-db")
	testenv.Short(t, "starts MariaDB")
	dbOnce.Do(func() { db, dbErr = startMariaDB() })
	if dbErr != nil {
		t.Fatalf("start MariaDB: %v", dbErr)
	}
	return db
}

func startMariaDB() (*mariadb, error) {
	dir, err := os.MkdirTemp("", "vigil-checks-mariadb-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+dir+"/data", "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	// The init file runs at every start, before the first connection is accepted.
	init := fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %[3]s;
CREATE TABLE IF NOT EXISTS %[3]s.replica (lag INT);
DELETE FROM %[3]s.replica;
INSERT INTO %[3]s.replica VALUES (0);
CREATE OR REPLACE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s';
GRANT SELECT ON *.* TO '%[1]s'@'%%';
CREATE OR REPLACE USER 'narrow'@'%%' IDENTIFIED BY '%[2]s';
`, testDBUser, testDBPassword, testDBName)
	if err := os.WriteFile(filepath.Join(dir, "init.sql"), []byte(init), 0o600); err != nil {
		return nil, err
	}
	m := &mariadb{dir: dir, port: port}
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *mariadb) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), m.port)
}

// start runs mariadbd and waits until it accepts connections.
func (m *mariadb) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dir
	cmd := exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+d+"/data",
		"--port="+strconv.Itoa(int(m.port)), "--bind-address=127.0.0.1",
		"--socket="+d+"/mysqld.sock", "--pid-file="+d+"/mysqld.pid", "--log-error="+d+"/error.log",
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--init-file="+d+"/init.sql")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	go cmd.Wait()
	m.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", m.addr().String(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(d, "error.log"))
	return fmt.Errorf("mariadbd did not listen on %s within 60s:\n%s", m.addr(), log)
}

func (m *mariadb) kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.cmd.Process.Kill()
		// Wait until the port is free again.
		for range 200 {
			c, err := net.DialTimeout("tcp", m.addr().String(), 100*time.Millisecond)
			if err != nil {
				break
			}
			c.Close()
			time.Sleep(25 * time.Millisecond)
		}
		m.cmd = nil
	}
}

func (m *mariadb) signal(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cmd.Process.Signal(sig)
}
