package datafile

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ReadPrivate reads a secret file, refusing one that other users can read
// or write: a key others can read is a key others hold.
func ReadPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	return os.ReadFile(path)
}

// ReadPrivateKey reads a private key file (PEM "PRIVATE KEY", PKCS#8) with
// ReadPrivate's checks. A missing file's error wraps fs.ErrNotExist.
func ReadPrivateKey(path string) (crypto.PrivateKey, error) {
	b, err := ReadPrivate(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s is not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteAtomic replaces path with data, mode 0600: a reader sees the old or
// the new file, never a part, even across a crash.
func WriteAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// CreateExclusive writes a new file, mode 0600, atomically; it reports false
// and no error if the file already exists (another process created it
// first, and that one stands).
func CreateExclusive(path string, data []byte) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	// The file exists now; if it cannot be made durable, say so: the
	// caller must not count on it surviving a crash.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return false, err
	}
	return true, nil
}

// writeTemp writes data durably to a new 0600 file beside path.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("write %s: %w", name, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync %s: %w", name, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// SyncDir makes a new directory entry (a file just created in dir) durable:
// see syncDir.
func SyncDir(dir string) error { return syncDir(dir) }

// syncDir makes a rename or link durable: it is only once the directory is.
// A file system that cannot sync a directory at all (EINVAL, ENOTSUP: some
// network and FUSE file systems) offers nothing more to wait for; any other
// error (EIO) means the change may not survive a crash, and is returned.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := dirSync(d); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// dirSync is (*os.File).Sync; tests replace it to make it fail.
var dirSync = (*os.File).Sync
