codec "zip" {}
