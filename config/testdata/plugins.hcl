node {
  name = "red"
  zone = "eu-1"
}
codec "lz" {
  level = 9
}
codec "gzip" {}
store "sqlite" {}
router "jvmroute" {}
replication "partitioned" {}
plugin "lz" {
  path = "/opt/wadi/lz"
  args = ["-v"]
}
plugin "sqlite" {
  path   = "/opt/wadi/sqlite"
  sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}
