rockspec_format = "3.0"
package = "kinesis-video-signaling"
version = "scm-1"
source = {
   url = "git+https://example.invalid/kinesis-video-signaling.git",
}
description = {
   summary = "AWS Kinesis Video Signaling for Lua: SigV4 in C, ICE servers for WebRTC",
   detailed = [[
GetIceServerConfig and SendAlexaOfferToMaster from Lua 5.4 and OpenResty
(LuaJIT). A C core signs requests with AWS Signature Version 4 (OpenSSL) and
speaks HTTP (libcurl); thin Lua bindings take a params table and return tables.
]],
   license = "MIT",
   labels = { "aws", "kinesis", "webrtc", "sigv4", "openresty" },
}
dependencies = {
   "lua >= 5.1",
   "lua-cjson",
}
external_dependencies = {
   OPENSSL = { header = "openssl/evp.h", library = "crypto" },
   -- Debian keeps curl.h under a multiarch directory, so check the library only.
   CURL = { library = "curl" },
}
build = {
   type = "builtin",
   modules = {
      ["kinesis_video_signaling"] = "src/kinesis_video_signaling.lua",
      ["kinesis_video_signaling.cache"] = "src/kinesis_video_signaling/cache.lua",
      ["kinesis_video_signaling.client"] = "src/kinesis_video_signaling/client.lua",
      ["kinesis_video_signaling.credentials"] = "src/kinesis_video_signaling/credentials.lua",
      ["kinesis_video_signaling.credentials.common"] = "src/kinesis_video_signaling/credentials/common.lua",
      ["kinesis_video_signaling.credentials.container"] = "src/kinesis_video_signaling/credentials/container.lua",
      ["kinesis_video_signaling.credentials.env"] = "src/kinesis_video_signaling/credentials/env.lua",
      ["kinesis_video_signaling.credentials.imds"] = "src/kinesis_video_signaling/credentials/imds.lua",
      ["kinesis_video_signaling.credentials.ini"] = "src/kinesis_video_signaling/credentials/ini.lua",
      ["kinesis_video_signaling.credentials.process"] = "src/kinesis_video_signaling/credentials/process.lua",
      ["kinesis_video_signaling.credentials.shared"] = "src/kinesis_video_signaling/credentials/shared.lua",
      ["kinesis_video_signaling.credentials.web_identity"] = "src/kinesis_video_signaling/credentials/web_identity.lua",
      ["kinesis_video_signaling.credentials.xml"] = "src/kinesis_video_signaling/credentials/xml.lua",
      ["kinesis_video_signaling.endpoints"] = "src/kinesis_video_signaling/endpoints.lua",
      ["kinesis_video_signaling.errors"] = "src/kinesis_video_signaling/errors.lua",
      ["kinesis_video_signaling.httpdate"] = "src/kinesis_video_signaling/httpdate.lua",
      ["kinesis_video_signaling.lock"] = "src/kinesis_video_signaling/lock.lua",
      ["kinesis_video_signaling.model"] = "src/kinesis_video_signaling/model.lua",
      ["kinesis_video_signaling.options"] = "src/kinesis_video_signaling/options.lua",
      ["kinesis_video_signaling.response"] = "src/kinesis_video_signaling/response.lua",
      ["kinesis_video_signaling.transport"] = "src/kinesis_video_signaling/transport.lua",
      ["kinesis_video_signaling.transport_ngx"] = "src/kinesis_video_signaling/transport_ngx.lua",
      ["kinesis_video_signaling.validate"] = "src/kinesis_video_signaling/validate.lua",
      ["kinesis_video_signaling.webrtc"] = "src/kinesis_video_signaling/webrtc.lua",
      ["kinesis_video_signaling.core"] = {
         sources = { "src/core.c", "src/sigv4.c", "src/canonical.c", "src/http.c" },
         defines = { "_POSIX_C_SOURCE=200809L" },
         incdirs = { "src", "$(OPENSSL_INCDIR)", "$(CURL_INCDIR)" },
         libdirs = { "$(OPENSSL_LIBDIR)", "$(CURL_LIBDIR)" },
         libraries = { "crypto", "curl" },
      },
   },
}
