import NIOCore; import NIOPosix
