package upstream

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Listen opens the API's listener. network is "tcp" or "unix". A unix
// socket is created with mode 0600 in a directory created 0700 if missing;
// a stale socket left by a crashed node is replaced, a live one (another
// node is using it) or any other file is an error. Closing the listener
// removes the socket file.
func Listen(network, address string) (net.Listener, error) {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", address)
		if err != nil {
			return nil, fmt.Errorf("app_api: %w", err)
		}
		return ln, nil
	case "unix":
		return listenUnix(address)
	}
	return nil, fmt.Errorf("app_api: unknown network %q", network)
}

func listenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("app_api: creating the socket's directory: %w", err)
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}
	// The socket is bound in a private directory, made 0600 there, and
	// only then renamed into place: bound straight at path, it would be
	// open to anyone the umask lets in until the chmod. Changing the
	// umask instead would race with every other goroutine creating files.
	tmpDir, err := os.MkdirTemp(dir, ".w")
	if err != nil {
		return nil, fmt.Errorf("app_api: creating a private directory for the socket: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("app_api: %w", err)
	}
	// The file moves: the listener must not try to unlink the old name.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("app_api: restricting the socket to its owner: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("app_api: moving the socket into place: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("app_api: %w", err)
	}
	return &unixListener{UnixListener: ln, path: path, file: fi}, nil
}

// checkStale makes sure path is free: absent, or a socket nobody listens on.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("app_api: %w", err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("app_api: %s exists and is not a socket; not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("app_api: %s is in use by another process", path)
	}
	return nil // stale: the rename replaces it
}

// unixListener removes its socket file on Close.
type unixListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo // the socket file as created, to recognise it
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		// Only our own socket: a node started since may have replaced it.
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.file) {
			_ = os.Remove(l.path)
		}
	})
	return err
}
