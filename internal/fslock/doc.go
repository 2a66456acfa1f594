// Package fslock is the advisory file lock that toolgate processes sharing
// one data directory use around read-modify-write of shared files (signing
// keys, tool pins).
package fslock
