{
  "targets": [
    {
      "target_name": "aes",
      "sources": ["aes.c"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=30000"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra"],
      "conditions": [
        ["node_shared_openssl=='true'", { "libraries": ["-lcrypto"] }]
      ]
    }
  ]
}
