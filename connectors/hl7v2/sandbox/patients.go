package sandbox

// Namespace is the assigning authority of the sandbox's medical record
// numbers (PID-3.4.1), and OID its universal id (PID-3.4.2, an ISO OID
// under the example arc 2.999, which no real organisation holds).
const (
	Namespace = "SANDBOX"
	OID       = "2.999.1.1"
	// SSA is the other identifier domain the sandbox answers with: made-up
	// social security numbers in the 900 range, which are never issued.
	SSA    = "SSA"
	ssaOID = "2.16.840.1.113883.4.1"
)

// patient is one fictional patient. Every name, address and number is
// invented for the sandbox.
type patient struct {
	mrn, ssn        string
	family          string
	given           []string
	birth, sex      string // HL7 date, HL7 sex code
	street, city    string
	state, zip      string
	phone, deceased string // deceased: an HL7 date-time
}

var patients = []patient{
	{mrn: "SBX-1001", ssn: "900-01-1001", family: "Lindqvist", given: []string{"Maja", "Elin"}, birth: "19840312", sex: "F",
		street: "14 Harbor Lane", city: "Portsmouth", state: "NH", zip: "03801", phone: "(555)010-1001"},
	{mrn: "SBX-1002", ssn: "900-01-1002", family: "Okafor", given: []string{"Chidi"}, birth: "19710807", sex: "M",
		street: "220 Elm Street", city: "Dayton", state: "OH", zip: "45402", phone: "(555)010-1002"},
	{mrn: "SBX-1003", family: "Okafor", given: []string{"Ada", "Nkem"}, birth: "20090115", sex: "F",
		street: "220 Elm Street", city: "Dayton", state: "OH", zip: "45402"},
	{mrn: "SBX-1004", ssn: "900-01-1004", family: "Fernández", given: []string{"Lucía"}, birth: "19560422", sex: "F",
		street: "9 Calle Sol", city: "Santa Fe", state: "NM", zip: "87501", phone: "(555)010-1004"},
	{mrn: "SBX-1005", family: "Nakamura", given: []string{"Kenji"}, birth: "19480930", sex: "M",
		street: "5 Pine Court", city: "Boise", state: "ID", zip: "83702", deceased: "20230214083000-0700"},
	{mrn: "SBX-1006", ssn: "900-01-1006", family: "Brennan", given: []string{"Siobhan", "Marie"}, birth: "19920618", sex: "F",
		street: "77 Quarry Road", city: "Burlington", state: "VT", zip: "05401", phone: "(555)010-1006"},
	{mrn: "SBX-1007", family: "Haddad", given: []string{"Omar"}, birth: "19880101", sex: "M",
		street: "31 Cedar Avenue", city: "Dearborn", state: "MI", zip: "48126", phone: "(555)010-1007"},
	{mrn: "SBX-1008", family: "Lindqvist", given: []string{"Nils"}, birth: "19820503", sex: "M",
		street: "14 Harbor Lane", city: "Portsmouth", state: "NH", zip: "03801"},
	{mrn: "SBX-1009", ssn: "900-01-1009", family: "Mbeki", given: []string{"Thandi"}, birth: "20010926", sex: "F",
		street: "402 River Road", city: "Richmond", state: "VA", zip: "23219", phone: "(555)010-1009"},
	{mrn: "SBX-1010", family: "Kowalski", given: []string{"Piotr", "Jan"}, birth: "19650211", sex: "M",
		street: "18 Mill Street", city: "Erie", state: "PA", zip: "16501"},
	{mrn: "SBX-1011", family: "Rivers", given: []string{"Sam"}, birth: "1999", sex: "U",
		city: "Eugene", state: "OR", zip: "97401"},
	{mrn: "SBX-1012", ssn: "900-01-1012", family: "Oyelaran", given: []string{"Tomi"}, birth: "19771120", sex: "O",
		street: "66 Lakeview Drive", city: "Madison", state: "WI", zip: "53703", phone: "(555)010-1012"},
}
