package checks

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/mariadbtest"
)

// The MySQL checker is proven against a real MariaDB (docs/reference.md, a throw-away
// MariaDB), started once per package test run by the first test that needs it and killed
// by TestMain.

const (
	testDBUser     = "monitor"
	testDBPassword = "Zq8-unguessable-S3cret" // must never leave the checker
	testDBName     = "vigil"
)

var (
	dbOnce sync.Once
	dbDir  string
	db     *mariadbtest.Server
	dbErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if db != nil {
		db.Kill()
	}
	if dbDir != "" {
		os.RemoveAll(dbDir)
	}
	os.Exit(code)
}

// needMariaDB returns the shared server, starting it on first use.
func needMariaDB(t *testing.T) *mariadbtest.Server {
	t.Helper()
	mariadbtest.Require(t)
	dbOnce.Do(func() {
		dbDir, dbErr = os.MkdirTemp("", "vigil-checks-mariadb-")
		if dbErr != nil {
			return
		}
		db, dbErr = mariadbtest.StartLoopback(dbDir, initSQL)
	})
	if dbErr != nil {
		t.Fatalf("start MariaDB: %v", dbErr)
	}
	return db
}

// initSQL runs at every start, before the first connection is accepted.
var initSQL = fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %[3]s;
CREATE TABLE IF NOT EXISTS %[3]s.replica (lag INT);
DELETE FROM %[3]s.replica;
INSERT INTO %[3]s.replica VALUES (0);
CREATE OR REPLACE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s';
GRANT SELECT ON *.* TO '%[1]s'@'%%';
CREATE OR REPLACE USER 'narrow'@'%%' IDENTIFIED BY '%[2]s';
`, testDBUser, testDBPassword, testDBName)
