cmd_Release/obj.target/hash.node := g++ -o Release/obj.target/hash.node -shared -pthread -rdynamic -m64  -Wl,-soname=hash.node -Wl,--start-group Release/obj.target/hash/hash.o -Wl,--end-group 
