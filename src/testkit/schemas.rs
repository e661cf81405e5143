//! Schema fixtures shared by the schema layer's unit tests and `tests/schema_registry.rs`.

/// `geo/pos.proto`: the file [`CAR_PROTO`] imports.
pub const POS_PROTO: &str = r#"syntax = "proto3";
package geo;
message Pos { double lat = 1; double lon = 2; }
"#;

/// A car in proto3 that imports [`POS_PROTO`] and the well-known Timestamp: `fleet.Car` is the
/// second message of the file (message indexes `[1]`), with an enum, a map and a nested
/// message. Nested types count in descriptor order, the map's synthetic entry type included
/// (as Confluent's serializers count them): `Car.TyresEntry` is `[1, 0]`, `Car.Inner` `[1, 1]`.
pub const CAR_PROTO: &str = r#"syntax = "proto3";
package fleet;
import "geo/pos.proto";
import "google/protobuf/timestamp.proto";
message Header { string source = 1; }
message Car {
  string vin = 1;
  google.protobuf.Timestamp t = 2;
  double speed = 3;
  geo.Pos pos = 4;
  enum Gear { PARK = 0; DRIVE = 1; REVERSE = 2; }
  Gear gear = 5;
  int64 odometer_m = 6;
  string region = 7;
  map<string, double> tyres = 8;
  message Inner { bool ok = 1; }
}
"#;
