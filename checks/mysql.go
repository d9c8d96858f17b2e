package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLConfig configures a mysql check (MySQL or MariaDB).
type MySQLConfig struct {
	User string
	// Password is a secret: it reaches the server during the handshake and nothing else.
	// No Reason, error or log line of this package contains it.
	Password string
	Database string // optional; an unknown database fails the check

	ConnectAddr netip.Addr
	ConnectPort uint16

	// TLS enables TLS; the server certificate is verified (against CAFile, or the system
	// roots) unless TLSSkipVerify is set.
	TLS           bool
	CAFile        string
	ServerName    string // default: the connect address
	TLSSkipVerify bool

	// Query, when set, runs after the login and must succeed; "" only logs in and pings.
	Query string
	// Expect, when set, must equal the first column of the first row of Query's result
	// (compared as text), e.g. "0" for a replication-lag probe. Without it any successful
	// query passes, whatever it returns.
	Expect string
}

type mysqlChecker struct {
	addr     netip.AddrPort
	password string
	conn     driver.Connector
	cfg      MySQLConfig
}

// mysqlErrAccessDenied is ER_ACCESS_DENIED_ERROR: wrong user or password.
const (
	mysqlErrAccessDenied = 1045
	mysqlErrDBDenied     = 1044
	mysqlErrBadDB        = 1049
)

// NewMySQL returns a check that logs in to the server at target (a fresh connection per
// probe), pings it, optionally runs Query, and closes the connection.
func NewMySQL(target netip.AddrPort, cfg MySQLConfig) (Checker, error) {
	if !target.IsValid() {
		return nil, fmt.Errorf("new mysql check: invalid target %v", target)
	}
	if cfg.User == "" {
		return nil, fmt.Errorf("new mysql check for %s: user is empty", target)
	}
	addr := dialTarget(target, cfg.ConnectAddr, cfg.ConnectPort)
	mc := mysql.NewConfig()
	mc.User = cfg.User
	mc.Passwd = cfg.Password
	mc.Net = "tcp"
	mc.Addr = addr.String()
	mc.DBName = cfg.Database
	// The driver's own logger prints I/O errors to stderr; its errors reach us anyway.
	mc.Logger = mysql.Logger(nopLogger{})
	if cfg.TLS {
		tc := &tls.Config{ServerName: cfg.ServerName, InsecureSkipVerify: cfg.TLSSkipVerify} // #nosec G402 -- only when asked
		if tc.ServerName == "" {
			tc.ServerName = addr.Addr().String()
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("new mysql check for %s: read CA file: %w", target, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("new mysql check for %s: CA file %s holds no PEM certificate", target, cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		mc.TLS = tc
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		// The driver's errors describe the DSN, never the password, but scrub anyway.
		return nil, fmt.Errorf("new mysql check for %s: %s", target, scrub(err.Error(), cfg.Password))
	}
	return &mysqlChecker{addr: addr, password: cfg.Password, conn: conn, cfg: cfg}, nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}

func (m *mysqlChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := m.check(ctx, start)
	res.Reason = scrub(res.Reason, m.password)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

func (m *mysqlChecker) check(ctx context.Context, start time.Time) Result {
	c, err := m.conn.Connect(ctx)
	if err != nil {
		return Result{Reason: m.reason(ctx, start, "log in to", err)}
	}
	defer c.Close()
	if p, ok := c.(driver.Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return Result{Reason: m.reason(ctx, start, "ping", err)}
		}
	}
	if m.cfg.Query == "" {
		return Result{OK: true, Reason: fmt.Sprintf("mysql %s: logged in as %q and pinged", m.addr, m.cfg.User)}
	}
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return Result{Reason: "mysql driver cannot run queries"}
	}
	rows, err := q.QueryContext(ctx, m.cfg.Query, nil)
	if err != nil {
		return Result{Reason: m.reason(ctx, start, "query", err)}
	}
	defer rows.Close()
	got, hasRow, err := firstValue(rows)
	if err != nil {
		return Result{Reason: m.reason(ctx, start, "read query result from", err)}
	}
	if m.cfg.Expect == "" {
		// No expect: the query succeeded, which is all that is asked.
		if !hasRow {
			return Result{OK: true, Reason: fmt.Sprintf("mysql %s: query %q succeeded (no rows)", m.addr, m.cfg.Query)}
		}
		return Result{OK: true, Reason: fmt.Sprintf("mysql %s: query %q returned %q", m.addr, m.cfg.Query, got)}
	}
	switch {
	case len(rows.Columns()) == 0:
		return Result{Reason: fmt.Sprintf("mysql %s: query %q returned no columns, want %q", m.addr, m.cfg.Query, m.cfg.Expect)}
	case !hasRow:
		return Result{Reason: fmt.Sprintf("mysql %s: query %q returned no rows, want %q", m.addr, m.cfg.Query, m.cfg.Expect)}
	case got != m.cfg.Expect:
		return Result{Reason: fmt.Sprintf("mysql %s: query %q returned %q, want %q", m.addr, m.cfg.Query, got, m.cfg.Expect)}
	}
	return Result{OK: true, Reason: fmt.Sprintf("mysql %s: query %q returned %q", m.addr, m.cfg.Query, got)}
}

// firstValue reads the first column of the first row as text; hasRow is false for an
// empty result or a statement without a result set.
func firstValue(rows driver.Rows) (got string, hasRow bool, err error) {
	cols := rows.Columns()
	if len(cols) == 0 {
		return "", false, nil
	}
	vals := make([]driver.Value, len(cols))
	if err := rows.Next(vals); err != nil {
		if err == io.EOF {
			return "", false, nil
		}
		return "", false, err
	}
	return valueText(vals[0]), true, nil
}

func valueText(v driver.Value) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case time.Time:
		return x.Format(time.DateTime)
	default:
		return fmt.Sprint(x)
	}
}

// reason tells a refused login apart from an unreachable server.
func (m *mysqlChecker) reason(ctx context.Context, start time.Time, doing string, err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case mysqlErrAccessDenied:
			return fmt.Sprintf("mysql auth failed at %s for user %q: %s (error %d)", m.addr, m.cfg.User, me.Message, me.Number)
		case mysqlErrDBDenied:
			return fmt.Sprintf("mysql %s: user %q may not use database %q (error %d)", m.addr, m.cfg.User, m.cfg.Database, me.Number)
		case mysqlErrBadDB:
			return fmt.Sprintf("mysql %s: unknown database %q (error %d)", m.addr, m.cfg.Database, me.Number)
		}
		return fmt.Sprintf("mysql %s: %s: server error %d: %s", m.addr, doing, me.Number, me.Message)
	}
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return timeoutReason(ctx, start, "in mysql "+doing+" "+m.addr.String())
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return fmt.Sprintf("mysql %s: %s: connection lost", m.addr, doing)
	}
	return fmt.Sprintf("mysql %s: %s: connection failed: %v", m.addr, doing, unwrapNet(err))
}

func unwrapNet(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		if _, ok := err.(interface{ Timeout() bool }); ok {
			// net.OpError: keep "dial tcp 127.0.0.1:1: connect: connection refused".
			return err
		}
		err = u
	}
}

// scrub removes a secret from text that leaves the package: a belt on top of never
// formatting it, in case a server or driver echoes it back.
func scrub(s, secret string) string {
	if secret == "" || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, "*****")
}
