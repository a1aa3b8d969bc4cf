// Package sandbox is a small HL7 v2 patient demographics supplier: an MLLP
// server on a listener the caller gives it (127.0.0.1 in the demo and the
// tests) that answers IHE Patient Demographics Queries (ITI-21, QBP^Q22)
// with RSP^K22 answers from a dozen hand-written, fictional patients
// compiled into the binary.
//
// It exists so that `ferry demo` can serve patients through the HL7 v2
// connector with no other software installed. It keeps no state between
// messages (a continuation pointer carries the offset of the next
// increment) and writes nothing anywhere.
//
// # Behaviour
//
// A query's QPD-3 parameters are matched against every patient:
// @PID.5.1.1 and @PID.5.2 (family and first given name) case-insensitively,
// a trailing "*" as a prefix wildcard; @PID.7 as a prefix of the birth date
// (YYYY, YYYYMM or YYYYMMDD); @PID.8 exactly; @PID.3.1 exactly against the
// patient's identifiers, restricted to the authority @PID.3.4.1 names when
// it is given. An authority the sandbox does not know (Namespace or SSA) is
// answered with MSA AE and HL7 error 204, as IHE asks.
//
// RCP-2 limits the patients of one answer (default 10); when more match,
// the answer ends with a DSC segment whose pointer the next query sends
// back in DSC-1 (the IHE Continuation Option). A message that is not a
// QBP^Q22 is answered with ACK AR and HL7 error 200.
//
// MLLP framing is strict: a frame is 0x0B, the message, 0x1C 0x0D, at most
// MaxFrame bytes; anything else closes the connection.
package sandbox
