//go:build !linux

package srs

// DisableHugePages does nothing outside Linux.
func DisableHugePages() error { return nil }
