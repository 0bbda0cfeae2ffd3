import Hummingbird; import HummingbirdWebSocket; import AsyncHTTPClient; import Crypto
