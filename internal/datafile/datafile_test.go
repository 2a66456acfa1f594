package datafile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if ok, err := CreateExclusive(p, []byte("one")); !ok || err != nil {
		t.Fatalf("create: %v %v", ok, err)
	}
	if ok, err := CreateExclusive(p, []byte("two")); ok || err != nil {
		t.Fatalf("second create must leave the first: %v %v", ok, err)
	}
	if b, err := ReadPrivate(p); err != nil || string(b) != "one" {
		t.Fatalf("read: %q %v", b, err)
	}
	if err := WriteAtomic(p, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if b, _ := ReadPrivate(p); string(b) != "three" {
		t.Fatalf("replaced: %q", b)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivate(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable secret must be refused: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	unlock, err := Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

// TestDirSyncErrorsReported: a directory fsync that fails (an I/O error)
// fails the write instead of being swallowed: the new file may not survive
// a crash. A file system that cannot sync directories at all is not an
// error. The failure is injected (a real disk cannot be made to fail here).
func TestDirSyncErrorsReported(t *testing.T) {
	dir := t.TempDir()
	defer func(f func(*os.File) error) { dirSync = f }(dirSync)
	dirSync = func(*os.File) error { return syscall.EIO }
	if err := WriteAtomic(filepath.Join(dir, "a"), []byte("x")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("WriteAtomic: %v", err)
	}
	if ok, err := CreateExclusive(filepath.Join(dir, "b"), []byte("x")); ok || !errors.Is(err, syscall.EIO) {
		t.Fatalf("CreateExclusive: %v %v", ok, err)
	}
	dirSync = func(*os.File) error { return syscall.EINVAL }
	if err := WriteAtomic(filepath.Join(dir, "c"), []byte("x")); err != nil {
		t.Fatalf("a file system without directory sync: %v", err)
	}
}
