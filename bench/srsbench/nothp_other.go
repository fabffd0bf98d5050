//go:build !linux

package main

func execWithoutTHP([]string) { fatalf("-exec-nothp needs Linux") }
