resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
}

# Composite indexes (the emulator ignores them; production refuses queries without them).
resource "google_firestore_index" "composite" {
  for_each   = { for i in local.composite_indexes : "${i.collection}:${join(",", [for f in i.fields : f[0]])}" => i }
  database   = google_firestore_database.main.name
  collection = each.value.collection

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# TTL: Firestore deletes documents whose Timestamp field has passed (within about a day). The field
# itself is not indexed: an ever-growing timestamp index is a write hotspot.
resource "google_firestore_field" "ttl" {
  for_each   = local.ttl_fields
  database   = google_firestore_database.main.name
  collection = each.key
  field      = each.value

  ttl_config {}

  index_config {}
}

resource "google_firestore_field" "unindexed" {
  for_each = merge([
    for collection, fields in local.unindexed_fields : { for f in fields : "${collection}.${f}" => { collection = collection, field = f } }
  ]...)
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  index_config {}
}
