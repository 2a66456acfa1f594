// Package datafile is how toolgate reads and writes its own files in the
// data directory (signing keys, key indexes, tool pins): private (0600),
// replaced atomically and durably so that no reader or crash ever sees half
// a file, and under an advisory lock where processes sharing the directory
// read, modify and write the same file.
package datafile
