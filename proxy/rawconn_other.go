//go:build !linux

package proxy

import "net"

// wrapConn returns c: raw socket calls (rawconn_linux.go) are made on Linux only.
func wrapConn(c net.Conn) net.Conn { return c }
