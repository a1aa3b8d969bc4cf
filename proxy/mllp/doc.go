// Package mllp is the host's transport for HL7 v2 sources: the Minimal
// Lower Layer Protocol (HL7 v2.5 Appendix C), which frames each message as
// 0x0B, the message, 0x1C 0x0D on a TCP (or TLS) stream.
//
// Reader reads frames off a stream and is strict about what it accepts,
// since a confused stream would pair a query with another query's answer:
// bytes before a frame's start are skipped (at most a frame's worth), a
// frame larger than the configured maximum, a start byte inside a frame, an
// end byte not followed by a carriage return, and a stream that ends inside
// a frame are errors. It buffers at most the maximum frame size plus one
// read buffer, whatever the peer sends.
//
// Client exchanges messages with one source over one connection, one
// request in flight at a time as MLLP requires (concurrent callers queue,
// in the order the Go scheduler lets them in). Deadlines come from the
// caller's context. The connection is dialed on first use, kept between
// exchanges, and dropped after any error, an idle period, or an answer
// followed by unexpected bytes, so the next exchange starts on a fresh one.
// A request that fails on a reused connection before any byte of an answer
// arrives (the peer closed it while idle) is sent once more on a new
// connection; Exchange is meant for queries, which are safe to repeat.
//
// Errors are *Error values of three kinds (timeout, unavailable, protocol)
// that the host maps to connector error codes. Their text never includes
// message content.
package mllp
