# Builds the addon with node-gyp, for machines without cmake; npm install uses
# cmake-js (CMakeLists.txt). Both read the same source lists in native/.
{
  "targets": [
    {
      "target_name": "blockferry",
      "sources": [
        "<!@(cat native/sources.txt)",
        "<!@(cat native/addon_sources.txt)"
      ],
      "include_dirs": [
        "native/core",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "<!@(sh native/deps.sh --cflags)"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "libraries": ["<!@(sh native/deps.sh --libs)"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ]
    }
  ]
}
