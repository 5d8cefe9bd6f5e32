// A Netty 4.1 server connfail did not build, for the `process` server kind
// (docs/external-servers.md). One program, five modes: a correct echo
// server and a correct proxy, and the seed bugs connfail must find in them
// from outside the process.
//
//   java NettyServer --port P --mode MODE [--idle-seconds N]
//
//   echo            IdleStateHandler first, then the echo handler: a peer
//                   silent for N s is closed (correct)
//   no-idle         no idle check: a half-open peer is never reaped
//   idle-last       the idle check after the echo handler, which consumes
//                   every read: it never sees one and closes busy clients
//   proxy           a proxy (HexDumpProxy-style) in front of an echo backend
//                   in the same JVM; either side inactive closes the other
//   proxy-no-close  the same, but channelInactive does not close the other
//                   side: every backend connection outlives its client
//
// Build (Debian: openjdk-17-jdk-headless, libnetty-java):
//   javac -cp /usr/share/java/netty-common.jar:/usr/share/java/netty-buffer.jar:\
//             /usr/share/java/netty-transport.jar:/usr/share/java/netty-handler.jar \
//         -d classes NettyServer.java
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;

public final class NettyServer {
  /** Writes back every read; consumes it (does not pass it on). */
  static final class Echo extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.writeAndFlush(msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** Closes a connection on an idle event. */
  static final class IdleCloser extends ChannelInboundHandlerAdapter {
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt instanceof IdleStateEvent) {
        ctx.close();
      } else {
        super.userEventTriggered(ctx, evt);
      }
    }
  }

  static void closeOnFlush(Channel ch) {
    if (ch != null && ch.isActive()) {
      ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** The client side of the proxy: connects to the backend, relays both ways. */
  static final class Frontend extends ChannelInboundHandlerAdapter {
    private final InetSocketAddress backendAddress;
    private final boolean closeOther;
    private volatile Channel backend;

    Frontend(InetSocketAddress backendAddress, boolean closeOther) {
      this.backendAddress = backendAddress;
      this.closeOther = closeOther;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      final Channel front = ctx.channel();
      Bootstrap b = new Bootstrap();
      b.group(front.eventLoop())
          .channel(NioSocketChannel.class)
          .option(ChannelOption.AUTO_READ, false)
          .handler(new Backend(front, closeOther));
      ChannelFuture f = b.connect(backendAddress);
      backend = f.channel();
      f.addListener((ChannelFutureListener) future -> {
        if (future.isSuccess()) {
          front.read();
        } else {
          front.close();
        }
      });
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      final Channel front = ctx.channel();
      if (backend.isActive()) {
        backend.writeAndFlush(msg).addListener((ChannelFutureListener) future -> {
          if (future.isSuccess()) {
            front.read();
          } else {
            future.channel().close();
          }
        });
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (closeOther) closeOnFlush(backend);  // the bug: proxy-no-close skips this
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      closeOnFlush(ctx.channel());
    }
  }

  static final class Backend extends ChannelInboundHandlerAdapter {
    private final Channel front;
    private final boolean closeOther;

    Backend(Channel front, boolean closeOther) {
      this.front = front;
      this.closeOther = closeOther;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      // The client may have gone while this side was connecting.
      if (!front.isActive()) {
        ctx.close();
      } else {
        ctx.read();
      }
    }

    @Override
    public void channelRead(final ChannelHandlerContext ctx, Object msg) {
      front.writeAndFlush(msg).addListener((ChannelFutureListener) future -> {
        if (future.isSuccess()) {
          ctx.channel().read();
        } else {
          future.channel().close();
        }
      });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (closeOther) closeOnFlush(front);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      closeOnFlush(ctx.channel());
    }
  }

  public static void main(String[] args) throws Exception {
    int port = -1;
    String mode = "echo";
    int idleSeconds = 2;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--port": port = Integer.parseInt(args[i + 1]); break;
        case "--mode": mode = args[i + 1]; break;
        case "--idle-seconds": idleSeconds = Integer.parseInt(args[i + 1]); break;
        default:
          System.err.println("unknown argument " + args[i]);
          System.exit(2);
      }
    }
    if (port < 0) {
      System.err.println("usage: NettyServer --port P --mode echo|no-idle|idle-last|proxy|proxy-no-close [--idle-seconds N]");
      System.exit(2);
    }
    final String m = mode;
    final int idle = idleSeconds;
    EventLoopGroup boss = new NioEventLoopGroup(1);
    EventLoopGroup workers = new NioEventLoopGroup(2);
    try {
      InetSocketAddress backendAddress = null;
      if (m.equals("proxy") || m.equals("proxy-no-close")) {
        Channel backendServer = new ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel.class)
            .childHandler(new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast("echo", new Echo());
              }
            })
            .bind("127.0.0.1", 0).sync().channel();
        backendAddress = (InetSocketAddress) backendServer.localAddress();
      } else if (!m.equals("echo") && !m.equals("no-idle") && !m.equals("idle-last")) {
        System.err.println("unknown mode " + m);
        System.exit(2);
      }
      final InetSocketAddress backendAt = backendAddress;
      ServerBootstrap b = new ServerBootstrap()
          .group(boss, workers)
          .channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              switch (m) {
                case "echo":
                  ch.pipeline().addLast("idle", new IdleStateHandler(idle, 0, 0));
                  ch.pipeline().addLast("idle-closer", new IdleCloser());
                  ch.pipeline().addLast("echo", new Echo());
                  break;
                case "no-idle":
                  ch.pipeline().addLast("echo", new Echo());
                  break;
                case "idle-last":
                  ch.pipeline().addLast("echo", new Echo());
                  ch.pipeline().addLast("idle", new IdleStateHandler(idle, 0, 0));
                  ch.pipeline().addLast("idle-closer", new IdleCloser());
                  break;
                default:
                  ch.pipeline().addLast("frontend", new Frontend(backendAt, m.equals("proxy")));
              }
            }
          });
      if (m.startsWith("proxy")) b.childOption(ChannelOption.AUTO_READ, false);
      // Every address, dual stack (IPv4 peers show as ::ffff:a.b.c.d).
      Channel server = b.bind(port).sync().channel();
      System.out.println("NettyServer " + m + " listening on port " + port);
      server.closeFuture().sync();
    } finally {
      boss.shutdownGracefully();
      workers.shutdownGracefully();
    }
  }
}
