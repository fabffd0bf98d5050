//go:build !windows

package main

// runAsService is Windows only.
func runAsService([]string) (int, bool) { return 0, false }
