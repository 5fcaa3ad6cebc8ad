{
  "targets": [
    {
      "target_name": "hash",
      "sources": ["hash.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra"],
      "cflags!": ["-O2"]
    }
  ]
}
