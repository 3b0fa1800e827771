plugin "sqlite" {
  path = "/broken/plugin"
}
store "sqlite" {}
