package openapi

import (
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// changesOverflowStatus is answered by change feeds alone.
const changesOverflowStatus = 409

// changesPath describes a resource's change feed.
func changesPath(r unified.ResourceType, name, changes string, fields *parameter, scope *[]securityReq) *pathItem {
	params := []*parameter{
		{
			Name: "since", In: "query",
			Description: "Where a new feed starts: an RFC 3339 date-time. Required without `cursor`, refused with it.",
			Schema:      &schema{Type: "string", Format: "date-time"},
		},
		{
			Name: "cursor", In: "query",
			Description: "Opaque: the `next_cursor` of the previous poll. It holds the feed's position (valid for `cursor.changes_ttl`, a week by default); filters sent with it must equal the first poll's.",
			Schema:      &schema{Type: "string"},
		},
		{Ref: ref("parameters", "limit")},
		fields,
	}
	for _, f := range unified.StandardFilters() {
		if f.Name == unified.FilterUpdatedGTE || f.Name == unified.FilterSort {
			continue // the feed's own
		}
		params = append(params, &parameter{Ref: ref("parameters", "filter_"+f.Name)})
	}
	params = append(params, requestHeaders()...)
	responses := withErrors(ok("The changes of this poll.", "application/json", &schema{Ref: ref("schemas", changes)}))
	responses[strconv.Itoa(changesOverflowStatus)] = &response{Ref: ref("responses", "Problem"+strconv.Itoa(changesOverflowStatus))}
	return &pathItem{
		Parameters: []*parameter{{Ref: ref("parameters", "connection_id")}},
		Get: &operation{
			OperationID: "changes_" + string(r),
			Summary:     "Poll " + strings.ReplaceAll(string(r), "_", " ") + " changes",
			Description: "The connection's " + name + " records the source created or updated since `since` or the cursor, oldest change first, fetched live. " +
				"Keep `next_cursor` and poll with it: each record version comes once, none is skipped, and records that share one last-changed instant are told apart. `has_more` says to poll again at once. " +
				"Ferry keeps nothing between polls: any replica serves the next. " +
				"Offered where the connector orders the resource by last change (capabilities lists the `sort` and `updated_gte` filters); deletions are not reported. " +
				"A `409 changes_overflow` means more records share one instant than a cursor can tell apart (docs/changes.md).\n\n" +
				"Needs the client scope `read`.",
			Tags:       []string{string(r)},
			Parameters: params,
			Responses:  responses,
			Security:   scope,
		},
	}
}
