//go:build !linux && !darwin

package proxy

import "net"

// peekSocket cannot look at a socket here; an idle upstream connection is
// then taken as open, and a failed one answers 502 (or is sent again when
// idempotent).
func peekSocket(net.Conn) socketState { return socketUnknown }
