package connectors

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// The in-band source request of a call: TransportCall (plugin to host)
// and TransportReply (host to plugin), encoded as framecodec.go encodes
// every message.

// TransportCall.

// transportCallMsg is one TransportCall: an HTTP request, or a message
// exchange (exchange set, message the message).
type transportCallMsg struct {
	callID, seq uint64
	http        *HTTPRequest
	exchange    bool
	message     []byte
}

func encodeTransportCall(callID, seq uint64, http *HTTPRequest, message []byte) *frameBuf {
	n := sizeVarint(fTCallID, callID) + sizeVarint(fTCallSeq, seq)
	var inner int
	if http != nil {
		inner = sizeHTTPRequest(http)
		n += sizeMessage(fTCallHTTP, inner)
	} else {
		inner = sizeString(fExReqMessage, len(message))
		n += sizeMessage(fTCallExchange, inner)
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fTCallID, callID)
	b = putVarint(b, fTCallSeq, seq)
	if http != nil {
		b = putHTTPRequest(b, fTCallHTTP, http)
	} else {
		b = putMessageHeader(b, fTCallExchange, inner)
		b = putBytes(b, fExReqMessage, message)
	}
	fb.b = b
	return fb
}

func decodeTransportCall(msg []byte) (*transportCallMsg, error) {
	t := &transportCallMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		var err error
		switch num {
		case fTCallID:
			t.callID = v
		case fTCallSeq:
			t.seq = v
		case fTCallHTTP:
			t.http, t.exchange = nil, false
			t.http, err = decodeHTTPRequest(data)
		case fTCallExchange:
			t.http, t.exchange = nil, true
			err = eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				if num == fExReqMessage {
					t.message = data
				}
				return nil
			})
		}
		return err
	})
	if err == nil && t.http == nil && !t.exchange {
		// Neither a request nor a message: nothing to serve.
		err = errMalformed
	}
	return t, err
}

// TransportReply.

// transportReplyMsg answers a TransportCall: an HTTP answer or exchanged
// message, or the host transport's error.
type transportReplyMsg struct {
	callID, seq uint64
	exchange    bool
	http        *HTTPResponse
	message     []byte
	err         error
}

func encodeTransportReply(callID, seq uint64, exchange bool, http *HTTPResponse, message []byte, err error) *frameBuf {
	n := sizeVarint(fTReplyID, callID) + sizeVarint(fTReplySeq, seq)
	var inner int
	if !exchange {
		inner = sizeHTTPResponse(http, err)
		n += sizeMessage(fTReplyHTTP, inner)
	} else {
		if err != nil {
			inner = sizeMessage(fExRespError, sizeErrorMsg(err, false))
		} else {
			inner = sizeString(fExRespMessage, len(message))
		}
		n += sizeMessage(fTReplyExchange, inner)
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fTReplyID, callID)
	b = putVarint(b, fTReplySeq, seq)
	if !exchange {
		b = putHTTPResponse(b, fTReplyHTTP, http, err)
	} else {
		b = putMessageHeader(b, fTReplyExchange, inner)
		if err != nil {
			b = putErrorMsg(b, fExRespError, err, false)
		} else {
			b = putBytes(b, fExRespMessage, message)
		}
	}
	fb.b = b
	return fb
}

func decodeTransportReply(msg []byte) (*transportReplyMsg, error) {
	t := &transportReplyMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		var err error
		switch num {
		case fTReplyID:
			t.callID = v
		case fTReplySeq:
			t.seq = v
		case fTReplyHTTP:
			t.exchange = false
			t.http, t.err, err = decodeHTTPResponse(data)
		case fTReplyExchange:
			t.exchange, t.http = true, nil
			err = eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				switch num {
				case fExRespMessage:
					t.message = data
				case fExRespError:
					e, _, err := decodeError(data)
					if err != nil {
						return err
					}
					t.err = e
				}
				return nil
			})
		}
		return err
	})
	return t, err
}
