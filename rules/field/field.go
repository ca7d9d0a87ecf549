// Package field is the contract between event sources and the rule engine:
// a source declares its fields (name, type, argument) and binds an extractor
// to each one it can populate; the filter compiler type-checks conditions
// against the declarations and calls the extractors per event.
//
// Extractors are typed functions: evaluating a condition never boxes a value
// in an interface, reflects, or looks a field up by name.
package field

import (
	"fmt"
	"net/netip"
	"sort"
)

// Type is a field's value type, named as Falco's field reference names them.
type Type uint8

const (
	String  Type = iota + 1 // charbuf
	Int64                   // int8..int64
	Uint64                  // uint8..uint64
	Bool                    // bool
	IPAddr                  // ipaddr: an IPv4 or IPv6 address
	IPNet                   // ipnet: an address and prefix
	Port                    // port: uint16
	AbsTime                 // abstime: nanoseconds since the epoch
	RelTime                 // reltime: nanoseconds
	Bytes                   // bytebuf
	Mode                    // mode, flags: numbers Falco prints by name
)

var typeNames = [...]string{String: "string", Int64: "int64", Uint64: "uint64", Bool: "bool",
	IPAddr: "ipaddr", IPNet: "ipnet", Port: "port", AbsTime: "abstime", RelTime: "reltime",
	Bytes: "bytebuf", Mode: "mode"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", t)
}

// ArgMode says whether a field takes an argument and of which form:
// proc.aname[2] (index), evt.arg.flags or evt.arg[flags] (key).
type ArgMode uint8

const (
	NoArg    ArgMode = iota
	IndexArg         // [N]
	KeyArg           // [name] or .name
	AnyArg           // index or key (evt.arg[0], evt.arg.fd)
)

// Arg is a parsed field argument, fixed at compile time.
type Arg struct {
	Set   bool   // an argument was given
	Index int    // for [N]
	Key   string // for [name] and .name
}

// Event is what a source hands the engine. The engine reads only its type,
// to pick the rules that can match; extractors type-assert it to the
// source's own event type (a pointer, so no allocation).
type Event interface {
	// EventType is the id that Source.EventType returned for the event's
	// type name ("openat", "execve", ...).
	EventType() int
}

// Extractor reads one field from an event. Exactly the function matching the
// field's type is set: String for String; Int for Int64, AbsTime and
// RelTime; Uint for Uint64, Port and Mode; Bool; IP for IPAddr and IPNet
// (with the prefix length in bits, or -1); Bytes for Bytes; Strings for
// list fields (it appends to dst, so a caller can reuse the slice).
// The bool result is false when the value is missing (Falco's <NA>).
//
// A non-list field whose argument is optional (proc.aname) may also set
// Strings: when a condition leaves the argument out, the filter compiler
// then checks every value Strings lists and matches if one matches, as
// libsinsp does for proc.aname=bash (any ancestor). Without Strings the
// single value of String is used.
type Extractor struct {
	String  func(ev Event, a Arg) (string, bool)
	Int     func(ev Event, a Arg) (int64, bool)
	Uint    func(ev Event, a Arg) (uint64, bool)
	Bool    func(ev Event, a Arg) (bool, bool)
	IP      func(ev Event, a Arg) (netip.Addr, int, bool)
	Bytes   func(ev Event, a Arg) ([]byte, bool)
	Strings func(ev Event, a Arg, dst []string) ([]string, bool)
	// Format renders a Mode field as Falco prints it (O_WRONLY|O_CREAT);
	// optional.
	Format func(ev Event, a Arg) (string, bool)
}

// Field declares one field of a source.
type Field struct {
	Name    string
	Type    Type
	List    bool // the value is a list (proc.args-style fields, ka.* lists)
	Arg     ArgMode
	ArgReq  bool // the argument is required
	Desc    string
	Extract Extractor // zero until a source binds it: evaluates as missing
}

// Bound reports whether something populates the field.
func (f *Field) Bound() bool {
	x := &f.Extract
	return x.String != nil || x.Int != nil || x.Uint != nil || x.Bool != nil ||
		x.IP != nil || x.Bytes != nil || x.Strings != nil
}

// Source is one event source (syscall, k8s_audit): its fields and the event
// type names its events carry.
type Source struct {
	Name   string
	fields map[string]*Field
	order  []string
	types  map[string]int
	names  []string
}

// NewSource returns an empty source.
func NewSource(name string) *Source {
	return &Source{Name: name, fields: map[string]*Field{}, types: map[string]int{}}
}

// Declare adds fields; declaring a name twice is a programming error.
func (s *Source) Declare(fs ...Field) {
	for i := range fs {
		f := fs[i]
		if _, dup := s.fields[f.Name]; dup {
			panic("field " + f.Name + " declared twice in source " + s.Name)
		}
		s.fields[f.Name] = &f
		s.order = append(s.order, f.Name)
	}
}

// Bind attaches an extractor to a declared field, checking that the
// extractor matches the field's type.
func (s *Source) Bind(name string, x Extractor) error {
	f, ok := s.fields[name]
	if !ok {
		return fmt.Errorf("source %s: bind: no field %s is declared", s.Name, name)
	}
	okType := false
	switch {
	case f.List:
		okType = x.Strings != nil
	case f.Type == String:
		okType = x.String != nil
	case f.Type == Int64 || f.Type == AbsTime || f.Type == RelTime:
		okType = x.Int != nil
	case f.Type == Uint64 || f.Type == Port || f.Type == Mode:
		okType = x.Uint != nil
	case f.Type == Bool:
		okType = x.Bool != nil
	case f.Type == IPAddr || f.Type == IPNet:
		okType = x.IP != nil
	case f.Type == Bytes:
		okType = x.Bytes != nil
	}
	if !okType {
		return fmt.Errorf("source %s: bind %s: extractor does not match field type %s (list=%v)", s.Name, name, f.Type, f.List)
	}
	f.Extract = x
	return nil
}

// Lookup returns the field declared under name, or nil.
func (s *Source) Lookup(name string) *Field { return s.fields[name] }

// Fields returns every declared field, in declaration order.
func (s *Source) Fields() []*Field {
	out := make([]*Field, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.fields[n])
	}
	return out
}

// Names returns the declared field names, sorted (for suggestions).
func (s *Source) Names() []string {
	out := append([]string(nil), s.order...)
	sort.Strings(out)
	return out
}

// EventType returns the id of an event type name, assigning the next id to a
// name seen for the first time. Sources call it at setup for every type they
// produce; the compiler calls it for every evt.type a rule names. It is not
// safe for concurrent use and is meant for setup, never per event.
func (s *Source) EventType(name string) int {
	if id, ok := s.types[name]; ok {
		return id
	}
	id := len(s.names)
	s.types[name] = id
	s.names = append(s.names, name)
	return id
}

// EventTypeName returns the name of an id from EventType.
func (s *Source) EventTypeName(id int) string {
	if id < 0 || id >= len(s.names) {
		return ""
	}
	return s.names[id]
}

// NumEventTypes is the number of ids handed out so far.
func (s *Source) NumEventTypes() int { return len(s.names) }
