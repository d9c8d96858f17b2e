// Package control serves the unix socket through which an operator changes a running
// director (vigil drain / maint / ready / plan): one JSON request per line, one JSON
// response per line.
//
// The socket is the only way to change vigil at run time: it is a file of mode 0600 in a
// root-owned directory, so only root (or the user vigil runs as) can connect, and the
// server also checks the peer's credentials (SO_PEERCRED). The HTTP listener stays
// read-only. No network surface is added.
package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Request is one operator request.
type Request struct {
	// Op is "admin" (set an administrative state), "conns" (the connections of real
	// servers, for drain --wait) or "plan" (what a reload of Path would do).
	Op       string `json:"op"`
	Selector string `json:"selector,omitempty"` // VS/RS, VS/*, */RS
	State    string `json:"state,omitempty"`    // ready | drain | maint
	Remove   bool   `json:"remove,omitempty"`   // maint: delete the destination
	Path     string `json:"path,omitempty"`     // plan: the file or directory
}

// Response answers a Request. Error is set when it failed; Result is the operation's.
type Response struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler carries out requests. It returns the value to encode as Result, or an error.
type Handler func(ctx context.Context, peer Peer, req Request) (any, error)

// Peer is who sent a request, as the kernel says (SO_PEERCRED).
type Peer struct {
	UID, PID int
}

// Limits of one connection.
const (
	maxRequest = 64 << 10
	idle       = 5 * time.Minute // a drain --wait asks again and again; nothing else is slow
	maxConns   = 16
)

// Server is a listening control socket.
type Server struct {
	path string
	ln   *net.UnixListener
	h    Handler
	log  *slog.Logger
	uid  int // besides root, the user vigil runs as may connect
	sem  chan struct{}
	wg   sync.WaitGroup
}

// Listen creates the socket at path with mode 0600: a stale socket left by a vigil that
// died is replaced; one another vigil still serves is an error.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another vigil is listening on it", path)
		}
		os.Remove(path)
	}
	// Bound under a temporary name, made 0600, then renamed into place: the socket is
	// never reachable at path with wider permissions.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Server{path: path, ln: ln, h: h, log: log, uid: os.Geteuid(), sem: make(chan struct{}, maxConns)}, nil
}

// Path is where the socket is.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until ctx ends, then closes the socket, removes it and waits
// for the requests in progress.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	defer func() {
		os.Remove(s.path)
		s.wg.Wait()
	}()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("control socket %s: %w", s.path, err)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			writeResponse(c, Response{Error: "too many control connections; try again"})
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	peer, err := peerOf(c)
	if err != nil {
		s.log.Warn("control socket: cannot read the peer's credentials; closing", "err", err)
		return
	}
	r := bufio.NewReaderSize(io.LimitReader(c, 1<<30), 4096)
	if peer.UID != 0 && peer.UID != s.uid {
		// The socket's mode already keeps others out; this holds should it be widened.
		// The request is read first, so the client is not cut off while it writes it and
		// gets this answer rather than a broken pipe.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		readLine(r)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		writeResponse(c, Response{Error: fmt.Sprintf("permission denied: uid %d may not control vigil (only root or uid %d)", peer.UID, s.uid)})
		s.log.Warn("control socket: request refused", "uid", peer.UID, "pid", peer.PID)
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		line, err := readLine(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				writeResponse(c, Response{Error: err.Error()})
			}
			return
		}
		var req Request
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeResponse(c, Response{Error: "bad request: " + err.Error()})
			return
		}
		res, err := s.h(ctx, peer, req)
		var resp Response
		if err != nil {
			resp.Error = err.Error()
		} else if res != nil {
			b, err := json.Marshal(res)
			if err != nil {
				resp.Error = "encode the result: " + err.Error()
			} else {
				resp.Result = b
			}
		}
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := writeResponse(c, resp); err != nil {
			return
		}
	}
}

// readLine reads one request line of at most maxRequest bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxRequest {
			return nil, fmt.Errorf("bad request: longer than %d bytes", maxRequest)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

func writeResponse(w io.Writer, resp Response) error {
	b, _ := json.Marshal(resp)
	_, err := w.Write(append(b, '\n'))
	return err
}

// Client is a connection to a control socket.
type Client struct {
	c *net.UnixConn
	r *bufio.Reader
}

// ErrPermission wraps the error of a user who may not use the control socket.
var ErrPermission = errors.New("permission denied")

// Dial connects to the control socket at path. Its errors say what to do: start vigil,
// set global.control_socket, or be root.
func Dial(path string) (*Client, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		switch {
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("%w: the control socket %s is root's (mode 0600): run this as root (sudo)", ErrPermission, path)
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("no vigil is listening on %s: is `vigil run` running, and does its global.control_socket name this path (-socket)? %w", path, err)
		}
		return nil, fmt.Errorf("connect to the control socket %s: %w", path, err)
	}
	return &Client{c: c, r: bufio.NewReader(c)}, nil
}

// Do sends req and decodes the result into out (which may be nil).
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if dl, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(dl)
	} else {
		c.c.SetDeadline(time.Time{})
	}
	b, _ := json.Marshal(req)
	if _, err := c.c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("send the request: %w", err)
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.Error != "" {
		if rest, ok := strings.CutPrefix(resp.Error, "permission denied: "); ok {
			return fmt.Errorf("%w: %s", ErrPermission, rest)
		}
		return errors.New(resp.Error)
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }
