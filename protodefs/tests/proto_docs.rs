//! Every service, method, message, field, oneof, enum and enum value of `cloudvlan/v1` has a
//! comment: the generated Rust is exempt from `missing_docs`, so this is where that is enforced.

use cvlan_proto::prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use prost::Message as _;

// Field numbers of descriptor.proto, which source-code-info paths are made of.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const MESSAGE_ONEOF: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

struct Check<'a> {
    documented: std::collections::HashSet<Vec<i32>>,
    file: &'a str,
    missing: Vec<String>,
}

impl Check<'_> {
    fn expect(&mut self, path: &[i32], what: String) {
        if !self.documented.contains(path) {
            self.missing.push(format!("{}: {what}", self.file));
        }
    }

    fn message(&mut self, path: Vec<i32>, message: &DescriptorProto, prefix: &str) {
        let name = format!("{prefix}{}", message.name());
        // Map entries are synthesised by protoc from `map<K, V>` fields and carry no comments.
        if message.options.as_ref().is_some_and(|o| o.map_entry()) {
            return;
        }
        self.expect(&path, format!("message {name}"));
        for (i, field) in message.field.iter().enumerate() {
            let field_path = [path.as_slice(), &[MESSAGE_FIELD, index(i)]].concat();
            self.expect(&field_path, format!("field {name}.{}", field.name()));
        }
        for (i, oneof) in message.oneof_decl.iter().enumerate() {
            // proto3 `optional` fields get a synthetic oneof named `_field`.
            if oneof.name().starts_with('_') {
                continue;
            }
            let oneof_path = [path.as_slice(), &[MESSAGE_ONEOF, index(i)]].concat();
            self.expect(&oneof_path, format!("oneof {name}.{}", oneof.name()));
        }
        for (i, nested) in message.nested_type.iter().enumerate() {
            let nested_path = [path.as_slice(), &[MESSAGE_NESTED, index(i)]].concat();
            self.message(nested_path, nested, &format!("{name}."));
        }
        for (i, nested) in message.enum_type.iter().enumerate() {
            let nested_path = [path.as_slice(), &[MESSAGE_ENUM, index(i)]].concat();
            self.enumeration(nested_path, nested, &format!("{name}."));
        }
    }

    fn enumeration(&mut self, path: Vec<i32>, enumeration: &EnumDescriptorProto, prefix: &str) {
        let name = format!("{prefix}{}", enumeration.name());
        self.expect(&path, format!("enum {name}"));
        for (i, value) in enumeration.value.iter().enumerate() {
            let value_path = [path.as_slice(), &[ENUM_VALUE, index(i)]].concat();
            self.expect(&value_path, format!("value {name}.{}", value.name()));
        }
    }
}

fn index(i: usize) -> i32 {
    i32::try_from(i).expect("fewer than 2^31 items")
}

#[test]
fn every_element_of_the_api_is_documented() {
    let set = FileDescriptorSet::decode(cvlan_proto::FILE_DESCRIPTOR_SET).expect("decodes");
    let ours: Vec<_> = set
        .file
        .iter()
        .filter(|f| f.package() == "cloudvlan.v1")
        .collect();
    assert_eq!(ours.len(), 17, "every cloudvlan/v1 file is compiled");

    let mut missing = Vec::new();
    for file in ours {
        let info = file.source_code_info.as_ref().expect("comments kept");
        let mut check = Check {
            documented: info
                .location
                .iter()
                .filter(|l| !l.leading_comments().trim().is_empty())
                .map(|l| l.path.clone())
                .collect(),
            file: file.name(),
            missing: Vec::new(),
        };
        for (i, message) in file.message_type.iter().enumerate() {
            check.message(vec![FILE_MESSAGE, index(i)], message, "");
        }
        for (i, enumeration) in file.enum_type.iter().enumerate() {
            check.enumeration(vec![FILE_ENUM, index(i)], enumeration, "");
        }
        for (i, service) in file.service.iter().enumerate() {
            check.expect(
                &[FILE_SERVICE, index(i)],
                format!("service {}", service.name()),
            );
            for (j, method) in service.method.iter().enumerate() {
                check.expect(
                    &[FILE_SERVICE, index(i), SERVICE_METHOD, index(j)],
                    format!("rpc {}.{}", service.name(), method.name()),
                );
            }
        }
        missing.extend(check.missing);
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}
