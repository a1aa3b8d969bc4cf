// Package hl7v2 is the connector for HL7 v2 patient demographics suppliers
// (kind "hl7v2"): IHE Patient Demographics Query, ITI-21, which asks with a
// QBP^Q22 message and is answered with an RSP^K22.
//
// It is pure HL7: it builds and parses messages and never opens a
// connection. Messages travel through the host's MLLP transport (the
// Exchanger on each request's Transport), which owns framing, TCP and TLS,
// timeouts and the one-request-in-flight rule. It is written against the
// public SDK only (the connectors and unified packages and the standard
// library), as any third-party connector would be.
//
// # Messages
//
// Parse reads a message in ER7 ("pipe and hat") encoding with the
// delimiters its MSH-1 and MSH-2 declare; Message.Encode writes one. A
// Message is segments of fields of repetitions of components of
// subcomponents, all indexed from 1 as HL7 numbers them (MSH-9 is
// msh.Field(9), PID-5.1.1 is pid.Get(5, 1, 1, 1)), and every value in it is
// plain text: Parse unescapes (\F\ \S\ \T\ \R\ \E\, \Xhh\, \.br\ …; see
// Unescape) and Encode escapes, so a value can never change a message's
// structure. Encoding what Parse returns gives a message that parses to the
// same values, and encodes to the same bytes again.
//
// # Patient Demographics Query
//
// PDQQuery builds a QBP^Q22: QPD-1 "IHE PDQ Query", QPD-2 the query tag,
// QPD-3 the demographics (@PID.5.1.1 family name, @PID.5.2 given name,
// @PID.7 birth date, @PID.8 sex, @PID.3.1 and @PID.3.4.x an identifier and
// its assigning authority), QPD-8 the domains to return, RCP-2 the quantity
// limit in records, and for a continuation a DSC segment with the
// supplier's pointer. ParsePDQResponse checks an RSP^K22 (that it answers
// this message and query, MSA and QAK) and returns its PID segments and
// continuation pointer; negative acknowledgements become connector errors
// (see its documentation) that carry HL7 error codes only, never ERR text.
//
// PatientMapping maps a PID segment to a unified.Patient:
//
//	PID-3   identifiers; the assigning authority (CX-4) gives the system
//	        (urn:oid: for an ISO OID, or settings.identifier_systems), CX-5
//	        the type (table 0203); the identifier in settings.id_authority
//	        (else the first) is the record's id
//	PID-5   names: family (XPN-1.1), given (XPN-2, XPN-3), suffix (XPN-4,
//	        XPN-6), prefix (XPN-5), use from the name type (XPN-7: L
//	        official, D usual, M maiden, N nickname …)
//	PID-7   birth date, as precise as sent (YYYY, YYYY-MM, YYYY-MM-DD)
//	PID-8   gender: M male, F female, O/A/N other, U unknown
//	PID-11  addresses (XAD-1.1 and XAD-2 lines, city, state, postal code,
//	        country, XAD-9 county as district, use from XAD-7)
//	PID-13  telecom, home; PID-14 telecom, work (XTN use and equipment
//	        type; an email for NET/Internet)
//	PID-29  deceased with its date-time; else PID-30 Y/N
//	PID-33  updated_at
//
// Raw, when asked for, is the PID segment as received, as a JSON string.
//
// # Connector
//
// Connector serves unified patients: search by name (family name), given,
// birth_date, gender and identifier ("system|value" or "value"), and read by
// id, which is a PDQ query by identifier in the connection's id_authority
// that must match exactly one patient. Settings are described on Settings.
//
// # Events
//
// MapEvent (connectors.EventMapper) turns one message of an inbound feed
// into unified events; the host frames, authenticates, delivers and
// acknowledges. The patient comes from PID as above, the encounter from PV1
// (PV1-19 visit number as its id, PV1-2 class, PV1-3 and PV1-6 locations,
// PV1-7/8/17 doctors, PV1-44/45 period), each observation from an OBX (its
// id the report's and OBX-1) and each report from an OBR (OBR-3, else
// OBR-2, as its id). occurred_at is EVN-6, else EVN-2, else MSH-7.
//
//	ADT A01, A04         encounter.started
//	ADT A02              encounter.updated
//	ADT A03              encounter.ended
//	ADT A11              encounter.cancelled
//	ADT A13              encounter.discharge_cancelled
//	ADT A08, A28, A31    patient.updated
//	ADT A40              patient.merged, one per PID/MRG pair (MRG-1 is the
//	                     record merged away)
//	ORU R01              observation.created per OBX, then
//	                     diagnostic_report.created for its OBR
//
// Any other message gives no events (the host acknowledges it at once); a
// message that does not parse, or lacks the segment its type needs, is
// refused with an invalid argument that carries none of its content.
//
// # Page tokens
//
// The NextPageToken of a search is one of:
//
//	c:<query tag>:<base64url of DSC-1>  the supplier's continuation pointer,
//	                                    sent back in DSC-1 with the same
//	                                    query and tag, as HL7 and IHE ask
//	o:<offset>                          for a supplier that ignores RCP-2:
//	                                    the query is repeated and the
//	                                    patients before offset skipped
//
// The filters travel with the host's sealed cursor, not in the token, so the
// host must send the same ones with it.
//
// # Sandbox
//
// Package sandbox (connectors/hl7v2/sandbox) is a small PDQ supplier over
// MLLP, with a dozen fictional patients: the source of `ferry demo`'s HL7 v2
// connection, and a peer for tests.
//
// # Errors
//
// Errors carry a connectors.ErrorCode and fixed wording; they never carry
// anything a source sent, which may be PHI.
package hl7v2
