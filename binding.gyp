{
  "targets": [
    {
      "target_name": "daxram_native",
      "sources": ["native/addon.cc", "native/notify.cc", "native/flock.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"sources!": ["native/addon.cc"]}]]
    }
  ]
}
